package sandbox

import (
	"errors"
	"fmt"
	"io/fs"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/lookup"
)

var errNotNsfs = errors.New("not a namespace file (nsfs), such as /proc/PID/ns/net or a bind mount of one")

// nsType inspects a namespace file without joining it: statfs tells an nsfs
// file from anything else, and the NS_GET_NSTYPE ioctl (Linux 4.11) tells
// its type.
func nsType(path string) (specs.LinuxNamespaceType, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "", &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	if st.Type != unix.NSFS_MAGIC {
		return "", errNotNsfs
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return "", nil // older kernel: the type is checked when joining
	}
	for _, p := range cloneFlags {
		if uintptr(t) == p.Val {
			return p.Key, nil
		}
	}
	return "", fmt.Errorf("unknown namespace type %#x", t)
}

// procNSNames are the names under /proc/self/ns of the types ownNS compares.
var procNSNames = lookup.Table[specs.LinuxNamespaceType, string]{
	{Key: specs.IPCNamespace, Val: "ipc"}, {Key: specs.NetworkNamespace, Val: "net"}, {Key: specs.UTSNamespace, Val: "uts"},
	{Key: specs.CgroupNamespace, Val: "cgroup"}, {Key: specs.MountNamespace, Val: "mnt"}, {Key: specs.PIDNamespace, Val: "pid"},
	{Key: specs.TimeNamespace, Val: "time"}, {Key: specs.UserNamespace, Val: "user"},
}

// ownNS reports whether the namespace file at path is the caller's own
// namespace of type t (the same nsfs inode as /proc/self/ns/NAME).
func ownNS(path string, t specs.LinuxNamespaceType) (bool, error) {
	self := "/proc/self/ns/" + procNSNames.Value(t)
	var a, b unix.Stat_t
	if err := unix.Stat(path, &a); err != nil {
		return false, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := unix.Stat(self, &b); err != nil {
		return false, &fs.PathError{Op: "stat", Path: self, Err: err}
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}
