package nsinit

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"

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

// stepLateNamespaces makes the namespaces of LateNamespaces: unshare on
// this thread, then, when the function runs in this process (not a
// command, which this thread execs), setns into them on every other
// thread too (psx), so that no goroutine sees the launcher's.
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
	for _, l := range []struct {
		flag     uintptr
		name, op string
	}{{unix.CLONE_NEWCGROUP, "cgroup", "unshare CLONE_NEWCGROUP"}, {unix.CLONE_NEWIPC, "ipc", "unshare CLONE_NEWIPC"}} {
		if LateNamespaces(o)&l.flag == 0 {
			continue
		}
		if err := unix.Unshare(int(l.flag)); err != nil {
			return fail("namespace", l.op, "", err)
		}
		if cfg.Exec {
			continue
		}
		p := "/proc/thread-self/ns/" + l.name
		f, err := openProc(p, unix.O_RDONLY)
		if err != nil {
			return fail("namespace", "open the new "+l.name+" namespace", p, err)
		}
		op := fmt.Sprintf("setns %s on every thread", l.name)
		err = psxUsable(op)
		if err == nil {
			if _, _, e := psx.Syscall3(unix.SYS_SETNS, f.Fd(), l.flag, 0); e != 0 {
				err = fail("namespace", op, p, e)
			}
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
