package nsinit

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// Applied is the child's record of what it set up, sent to the parent as
// JSON before the function runs.
type Applied struct {
	Namespaces      map[string]string    `json:"namespaces"` // type -> "type:[inode]"
	UIDMap          string               `json:"uidMap,omitempty"`
	GIDMap          string               `json:"gidMap,omitempty"`
	UID             int                  `json:"uid"`
	GID             int                  `json:"gid"`
	Groups          []int                `json:"groups,omitempty"`
	Hostname        string               `json:"hostname,omitempty"`
	Rlimits         map[string][2]uint64 `json:"rlimits,omitempty"`
	Capabilities    map[string]string    `json:"capabilities,omitempty"` // set -> hex mask
	NoNewPrivileges bool                 `json:"noNewPrivileges"`
	SessionKeyring  int                  `json:"sessionKeyring,omitempty"` // the session keyring's serial
	Seccomp         *SeccompReport       `json:"seccomp,omitempty"`
	Landlock        *LandlockReport      `json:"landlock,omitempty"`
	Root            string               `json:"root,omitempty"` // "pivot_root", "move+chroot" or ""
	Mounts          []string             `json:"mounts,omitempty"`
	// Inexact lists what was asked for and not applied exactly (stricter
	// or weaker): --strict refuses to run the command when it is not
	// empty.
	Inexact []string `json:"inexact,omitempty"`
	// CgroupView is /proc/self/cgroup inside, once the setup is done
	// (with a new cgroup namespace, every path should be "/").
	CgroupView string `json:"cgroupView,omitempty"`

	// selfCgroup and selfMountinfo are /proc/self/cgroup and
	// /proc/self/mountinfo as they read before the child made its cgroup
	// namespace (cgroupfs_linux.go).
	selfCgroup, selfMountinfo string
	// lateNS are the namespaces the child made itself, for its other
	// threads (latens_linux.go).
	lateNS []lateNS
}

// stepReport records the namespaces, id maps and ids the setup ended with.
func stepReport(o *sandbox.Options, _ Config, a *Applied) error {
	// Read through descriptors checked to be on a procfs (procfs_linux.go):
	// the parent's --strict checks rely on this report.
	if ns, err := openProc("/proc/self/ns", unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
		buf := make([]byte, 64)
		for _, t := range []string{"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"} {
			if n, err := unix.Readlinkat(int(ns.Fd()), t, buf); err == nil {
				a.Namespaces[t] = string(buf[:n])
			}
		}
		ns.Close()
	}
	for _, m := range []struct {
		name string
		to   *string
	}{{"uid_map", &a.UIDMap}, {"gid_map", &a.GIDMap}} {
		if f, err := openProc("/proc/self/"+m.name, unix.O_RDONLY); err == nil {
			if b, err := io.ReadAll(f); err == nil {
				*m.to = string(b)
			}
			f.Close()
		}
	}
	if LateNamespaces(o)&unix.CLONE_NEWCGROUP != 0 {
		// Through this process's /proc, if it has one: the report reads
		// nothing when the root has no procfs.
		if v, err := readProcFile("/proc/self/cgroup"); err == nil {
			a.CgroupView = v
		}
	}
	a.UID, a.GID = unix.Getuid(), unix.Getgid()
	a.Groups, _ = unix.Getgroups()
	return nil
}
