package fork

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/cgroups"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// isolation is the parent's half of a sandbox: what goes into SysProcAttr,
// and what the parent does between the start and sending the request.
type isolation struct {
	opts       *sandbox.Options
	cloneflags uintptr
	uidMaps    []syscall.SysProcIDMap
	gidMaps    []syscall.SysProcIDMap
	setgroups  bool
	helper     bool // maps written by newuidmap/newgidmap after the start
	mapsAfter  bool // maps written by the parent after the exec (mapsafter_linux.go)
	vfork      bool // the start shares this process's memory until the exec (mapsAfter, or helper)
	rootAfter  bool // with mapsAfter: the child becomes root of its namespace then
	credential *syscall.Credential
	ambient    []uintptr
	joins      []specs.LinuxNamespace
	filter     *seccomp.Program
	guard      *guard          // the sandbox shares the launcher's pid namespace
	cgroup     *cgroups.Cgroup // made before the start, removed after Wait
	cgroupFD   bool            // the child is cloned into it (v2)
	leaseIDs   bool            // root, new user namespace, no maps: lease a range
	lease      *idLease        // taken before the start, released after Wait
	idmaps     []idmapMount    // id-mapped binds, made by the parent after the start
	idmapFiles []*os.File      // their detached clones, sent after the request
}

// planIsolation validates o completely and works out how to start the child.
// Nothing is created here.
func planIsolation(o *sandbox.Options) (*isolation, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := checkRootfsOwner(o); err != nil {
		return nil, err
	}
	p := &isolation{opts: o}
	if o.Seccomp != nil {
		prog, err := seccomp.CompileProgram(o.Seccomp, runtime.GOARCH)
		if err != nil {
			return nil, fmt.Errorf("fork: seccomp: %w", err)
		}
		p.filter = prog
	}
	for _, ns := range o.Namespaces {
		if ns.Path != "" {
			p.joins = append(p.joins, ns)
			continue
		}
		if ns.Type == specs.TimeNamespace && nsinit.TimeNamespaceByChild(o) {
			continue // made by the child itself, see timens_linux.go
		}
		p.cloneflags |= sandbox.CloneFlag(ns.Type)
	}
	var err error
	if p.idmaps, err = planIDMapMounts(o, p.joins); err != nil {
		return nil, err
	}
	// Made by the child itself once it is in its cgroup and has its ids
	// (see nsinit.LateNamespaces).
	p.cloneflags &^= nsinit.LateNamespaces(o)
	if p.cloneflags&unix.CLONE_NEWUSER == 0 {
		return p, nil
	}
	uids, gids := o.EffectiveIDMappings()
	p.leaseIDs = o.LeasesIDRange()
	p.helper = o.NeedsIDMapHelper()
	if p.helper {
		for _, tool := range []string{"newuidmap", "newgidmap"} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Errorf("fork: uidMappings: mapping more than your own id needs %s (Debian package uidmap) and ranges in /etc/subuid and /etc/subgid: %w", tool, err)
			}
		}
		// The maps exist only after the exec: carry the capabilities over
		// it in the ambient set (nsinit clears it).
		p.ambient = allCaps()
		o2 := *o
		o2.UIDMappings, o2.GIDMappings = uids, gids
		p.opts = &o2
		return p, nil
	}
	p.uidMaps = toSysMaps(uids)
	p.gidMaps = toSysMaps(gids)
	p.setgroups = setgroupsEnabled()
	switch {
	case mapsZero(uids) && mapsZero(gids):
		// Exec as root inside: the child keeps its capabilities there.
		p.credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	default:
		// No root inside (root starting a job for a host user), or a
		// root uid or gid without the other: the setup runs as the
		// user's ids (Validate made sure the maps have them), with every
		// capability of the namespace carried over the exec, so that
		// what it creates (the minimal /dev) has an owner the namespace
		// knows, and never as ids the namespace does not map (for a
		// root caller: host root's).
		p.credential = &syscall.Credential{Uid: o.User.UID, Gid: o.User.GID, NoSetGroups: true}
		p.ambient = allCaps()
	}
	return p, nil
}

// makeCgroup creates the sandbox's cgroup with its limits (nothing is
// created without Resources). Empty cgroups of earlier, killed parents are
// removed first (never one that another launcher may still be filling).
func (p *isolation) makeCgroup() error {
	o := p.opts
	if o.Resources == nil && o.CgroupsPath == "" {
		return nil
	}
	cleanupOnce.Do(func() { cgroups.CleanupAbandoned() })
	cg, err := cgroups.New(cgroups.Config{Resources: o.Resources, Path: o.CgroupsPath, BestEffort: o.CgroupsBestEffort})
	if err != nil {
		return cgroupError("create", err)
	}
	p.cgroup = cg
	_, p.cgroupFD = cg.FD()
	return nil
}

var cleanupOnce sync.Once

// leaseRange leases the sandbox's range of host ids from nsfork's pool when
// root starts it without id maps (sandbox.Options.LeasesIDRange) and maps
// ids 0-65535 inside onto it.
func (p *isolation) leaseRange() error {
	if !p.leaseIDs {
		return nil
	}
	l, err := leaseIDRange(p.opts.IDRangeKey)
	if err != nil {
		return err
	}
	p.lease = l
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(l.base()), Size: sandbox.IDRangeSize}}
	p.uidMaps, p.gidMaps = m, m
	return nil
}

func (p *isolation) apply(a *syscall.SysProcAttr) {
	if p.cgroup != nil {
		if fd, ok := p.cgroup.FD(); ok {
			a.UseCgroupFD, a.CgroupFD = true, fd
		}
	}
	a.Cloneflags |= p.cloneflags
	if p.vfork {
		// The start shares this process's memory until the exec; the
		// maps follow it (afterStart).
		a.Cloneflags |= unix.CLONE_VM | unix.CLONE_VFORK
	}
	if p.mapsAfter {
		a.UidMappings, a.GidMappings = nil, nil
	} else {
		a.UidMappings = p.uidMaps
		a.GidMappings = p.gidMaps
		a.GidMappingsEnableSetgroups = p.setgroups
	}
	if p.credential != nil {
		a.Credential = p.credential
	}
	a.AmbientCaps = p.ambient
	// A new session: TIOCSTI from inside cannot reach the caller's terminal.
	a.Setsid = true
	a.Setctty = false
	a.Foreground = false
}

// parentSteps reports whether the parent has work to do between the start
// and the request.
func (p *isolation) parentSteps() bool {
	return p.helper || p.mapsAfter || len(p.opts.Rlimits) > 0 || (p.cgroup != nil && !p.cgroupFD) || len(p.idmaps) > 0
}

// afterStart writes the id maps (itself, or through the setuid helpers), sets the
// rlimits with prlimit, which can raise a hard limit the child itself could
// no longer raise, and makes the id-mapped binds' clones once the child's
// user namespace has its maps.
func (p *isolation) afterStart(pid int, command bool) error {
	if p.mapsAfter {
		if err := writeIDMaps(pid, p.uidMaps, p.gidMaps, p.setgroups); err != nil {
			return err
		}
	}
	if p.cgroup != nil && !p.cgroupFD {
		// cgroup v1: placed before the child gets its request, so before
		// any of the function's code runs.
		if err := p.cgroup.Add(pid); err != nil {
			return cgroupError("add", err)
		}
	}
	if p.helper {
		if err := runMapHelper("newuidmap", pid, p.opts.UIDMappings); err != nil {
			return err
		}
		if err := runMapHelper("newgidmap", pid, p.opts.GIDMappings); err != nil {
			return err
		}
	}
	if err := setRlimits(pid, p.opts.Rlimits, command); err != nil {
		return err
	}
	var err error
	p.idmapFiles, err = makeIDMapMounts(p.idmaps, pid)
	return err
}

// cgroupError is err of the cgroup package, a *SetupError already, or
// made one.
func cgroupError(op string, err error) error {
	var se *SetupError
	if !errors.As(err, &se) {
		err = sandbox.NewSetupError("cgroup", op, "", err)
	}
	return err
}

// startJoined starts cmd from a fresh thread that first joins the
// namespaces given by path (children inherit the starting thread's
// namespaces), with keyring a new session keyring, then runs prepare
// (nil: nothing), which changes only that thread. The thread stays locked
// until release is closed, then exits with its goroutine: it is never
// reused with foreign namespaces, a foreign keyring or a Landlock domain,
// and the child's Pdeathsig, bound to this thread, fires only once the
// child is waited for.
func startJoined(cmd *exec.Cmd, joins []specs.LinuxNamespace, keyring bool, prepare func() error, release <-chan struct{}) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if keyring {
			if err := joinNewSessionKeyring(); err != nil {
				done <- err
				return
			}
		}
		for _, ns := range joins {
			fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				done <- sandbox.NewSetupError("namespace", "open "+string(ns.Type)+" namespace", ns.Path, err)
				return
			}
			err = unix.Setns(fd, int(sandbox.CloneFlag(ns.Type)))
			unix.Close(fd)
			if err != nil {
				done <- sandbox.NewSetupError("namespace", "setns "+string(ns.Type), ns.Path, err)
				return
			}
		}
		if prepare != nil {
			if err := prepare(); err != nil {
				done <- err
				return
			}
		}
		err := cmd.Start()
		done <- err
		if err == nil {
			<-release
		}
	}()
	return <-done
}
