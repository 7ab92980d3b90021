package nsinit

import (
	"fmt"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/sandbox"
)

// Some namespaces take something from the moment they are made, and the
// child makes them itself, first thing in Setup, instead of at clone:
//
//   - cgroup: a cgroup namespace is rooted at the cgroup its maker is in.
//     At clone the child is still in the launcher's cgroup (on cgroup v1
//     the parent moves it into the sandbox's cgroup only after the start),
//     and /proc/self/cgroup inside would name the sandbox's cgroup from the
//     launcher's. Made here, after the parent placed the child, it reads
//     "/" inside, on v1 and v2 alike, as with runc (which unshares it in
//     its init after the move).
//   - ipc, with a user namespace: the ipc namespace's mqueue file system
//     is made with the namespace, owned by its maker's fsuid. At clone
//     that is the launcher's host id, which the new user namespace may
//     not map (the overflow id inside); here the child already has its
//     ids inside, and the mqueue mount is owned by them.
//
// LateNamespaces lists the clone flags of these namespaces for o: fork
// leaves them out of the clone flags, and stepLateNamespaces makes them.
func LateNamespaces(o *sandbox.Options) uintptr {
	var f uintptr
	for _, ns := range o.Namespaces {
		if ns.Path != "" {
			continue
		}
		switch {
		case ns.Type == specs.CgroupNamespace:
			f |= unix.CLONE_NEWCGROUP
		case ns.Type == specs.IPCNamespace && o.NewNamespace(specs.UserNamespace):
			f |= unix.CLONE_NEWIPC
		}
	}
	return f
}

// stepLateNamespaces makes the namespaces of LateNamespaces on this thread
// (unshare), which makes the mounts; stepLateNamespacesAll moves the other
// threads into them once the mounts are made.
func stepLateNamespaces(o *sandbox.Options, cfg Config, a *Applied) error {
	if slices.ContainsFunc(o.Mounts, func(m specs.Mount) bool { return m.Type == "cgroup" || m.Type == "cgroup2" }) {
		// Both name cgroups relative to the reader's cgroup namespace.
		var err error
		if a.selfCgroup, err = readProcFile("/proc/self/cgroup"); err != nil {
			return fail("mount", "read", "/proc/self/cgroup", err)
		}
		if a.selfMountinfo, err = readProcFile("/proc/self/mountinfo"); err != nil {
			return fail("mount", "read", "/proc/self/mountinfo", err)
		}
	}
	for _, l := range lateKinds {
		if LateNamespaces(o)&l.flag == 0 {
			continue
		}
		if err := unix.Unshare(int(l.flag)); err != nil {
			return fail("namespace", l.op, "", err)
		}
		if cfg.Exec {
			continue // the command inherits this thread's
		}
		f, err := openNS(l.name)
		if err != nil {
			return fail("namespace", "open the new "+l.name+" namespace", "/proc/thread-self/ns/"+l.name, err)
		}
		a.lateNS = append(a.lateNS, lateNS{name: l.name, flag: l.flag, f: f})
	}
	return nil
}

var lateKinds = []struct {
	flag     uintptr
	name, op string
}{{unix.CLONE_NEWCGROUP, "cgroup", "unshare CLONE_NEWCGROUP"}, {unix.CLONE_NEWIPC, "ipc", "unshare CLONE_NEWIPC"}}

// lateNS is a namespace stepLateNamespaces made, for the other threads.
type lateNS struct {
	name string
	flag uintptr
	f    *os.File
}

// stepLateNamespacesAll: when the function runs in this process (not a
// command, which this thread execs), setns into the late namespaces on
// every thread (psx), so that no goroutine stays in the launcher's. In a
// cgo build psx finds the threads through /proc, which is the sandbox's
// only once the mounts are made.
func stepLateNamespacesAll(_ *sandbox.Options, _ Config, a *Applied) error {
	defer func() {
		for _, l := range a.lateNS {
			l.f.Close()
		}
		a.lateNS = nil
	}()
	for _, l := range a.lateNS {
		op := fmt.Sprintf("setns %s on every thread", l.name)
		if err := psxUsable(op); err != nil {
			return err
		}
		if _, _, e := allthreads.Syscall6(unix.SYS_SETNS, l.f.Fd(), l.flag, 0, 0, 0, 0); e != 0 {
			return fail("namespace", op, "/proc/thread-self/ns/"+l.name, e)
		}
	}
	return nil
}

// openNS opens this thread's namespace file of type name, through a
// /proc/thread-self/ns checked to be on a procfs, and checks it is one.
func openNS(name string) (*os.File, error) {
	dir, err := openProc("/proc/thread-self/ns", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: not a namespace file", unix.EXDEV)
	}
	return os.NewFile(uintptr(fd), "/proc/thread-self/ns/"+name), nil
}
