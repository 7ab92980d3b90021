package sandbox

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// initUserNSIno is the inode number of the initial user namespace
// (PROC_USER_INIT_INO in the kernel's include/linux/proc_ns.h).
const initUserNSIno = 0xEFFFFFFD

// pidfdGetUserNamespace is PIDFD_GET_USER_NAMESPACE (linux/pidfd.h:
// _IO(PIDFS_IOCTL_MAGIC 0xFF, 9), Linux 6.11).
const pidfdGetUserNamespace = 0xFF09

var inInitialUserNS = sync.OnceValue(detectInitialUserNS)

// detectInitialUserNS reports whether this process is in the initial user
// namespace. The kernel names the namespace itself through a pidfd of this
// process (ownUserNS): /proc/self/ns/user is a path, which a process in a
// mount namespace of its own (root of a user namespace, as anyone can be)
// can mount another file on, the initial namespace's nsfs file it opened
// before, say, and be taken for host root. Only kernels without the pidfd
// ioctl (before 6.11) read /proc.
func detectInitialUserNS() bool {
	if st, ok := ownUserNSOnce(); ok {
		return st.Ino == initUserNSIno
	}
	return initialUserNS("/proc/self/ns/user", "/proc/self/uid_map")
}

// ownUserNSOnce is ownUserNS, asked once per process (HostRootIDs reads
// the same file).
var ownUserNSOnce = sync.OnceValues(ownUserNS)

// ownUserNS is the stat of this process's user namespace as the kernel
// gives it (PIDFD_GET_USER_NAMESPACE); ok is false where it does not
// (before Linux 6.11, no pidfd_open).
func ownUserNS() (st unix.Stat_t, ok bool) {
	// Under ForkLock: the namespace descriptor must not leak into a
	// child forked meanwhile.
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return st, false
	}
	defer unix.Close(pidfd)
	fd, err := unix.IoctlRetInt(pidfd, pidfdGetUserNamespace)
	if err != nil {
		return st, false
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) != nil || fs.Type != unix.NSFS_MAGIC || unix.Fstat(fd, &st) != nil {
		return st, false
	}
	return st, true
}

func userNSTag() string {
	if inInitialUserNS() {
		return ""
	}
	st, ok := ownUserNSOnce()
	if !ok {
		var fs unix.Statfs_t
		if unix.Statfs("/proc/self/ns/user", &fs) != nil || fs.Type != unix.NSFS_MAGIC || unix.Stat("/proc/self/ns/user", &st) != nil {
			return "-ns"
		}
	}
	return "-ns" + strconv.FormatUint(st.Ino, 10)
}

func rootInInitialUserNS() bool { return os.Geteuid() == 0 && inInitialUserNS() }

// initialUserNS reports whether nsPath (a /proc/PID/ns/user) is the
// initial user namespace, from its inode when it is an nsfs file, else
// from uidMapPath (the same process's uid_map).
func initialUserNS(nsPath, uidMapPath string) bool {
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Statfs(nsPath, &fs) == nil && fs.Type == unix.NSFS_MAGIC && unix.Stat(nsPath, &st) == nil {
		return st.Ino == initUserNSIno
	}
	b, err := os.ReadFile(uidMapPath)
	return err == nil && fullIDMap(b)
}

// fullIDMap reports whether the content of a uid_map or gid_map file
// maps the whole id range onto itself, as the initial namespace's does.
func fullIDMap(b []byte) bool {
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}
