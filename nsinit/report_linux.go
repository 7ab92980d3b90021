package nsinit

import (
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// Applied is the child's record: the report the parent reads
// (sandbox.Applied, sent as JSON before the function runs) and what one
// step leaves for a later one.
type Applied struct {
	sandbox.Applied

	// selfCgroup and selfMountinfo are /proc/self/cgroup and
	// /proc/self/mountinfo as they read before the child made its cgroup
	// namespace (cgroupfs_linux.go).
	selfCgroup, selfMountinfo string
	// lateNS are the namespaces the child made itself, for its other
	// threads (latens_linux.go).
	lateNS []lateNS
	// cwd is the working directory the mount step placed in the view,
	// for the cwd step to enter under the command's ids; cwdSame: it is
	// the caller's own directory (bound alone, or a bind of it onto
	// itself: --rw .) (mounts_cwd_linux.go).
	cwd     *os.File
	cwdPath string
	cwdSame bool
}

// stepReportNamespaces records the namespaces the child is in. It runs
// before the ids step: once the process's ids change it may no longer be
// dumpable, and /proc/self/ns then reads EACCES for its own new uid (a
// config's non-root process.user).
func stepReportNamespaces(_ *sandbox.Options, _ Config, a *Applied) error {
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
	return nil
}

// stepReport records the id maps and ids the setup ended with.
func stepReport(o *sandbox.Options, _ Config, a *Applied) error {
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
