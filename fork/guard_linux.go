package fork

// The launcher guard: a sandbox that shares its launcher's pid namespace
// (the mpi preset, --share pid, options with namespaces but no pid
// namespace; options with no namespace at all are no sandbox) sees the
// launcher and the launcher's parent, and runs with the same uid or as
// root: it could stop the launcher (and with it every timeout), kill it,
// trace it or open a pidfd of it. In a new pid namespace they are out of
// sight and nothing here applies.
//
// Two layers keep them out of reach:
//
//   - A Landlock domain that scopes signals (LANDLOCK_SCOPE_SIGNAL, Linux
//     6.12, Landlock ABI 6), entered by the one thread that clones the
//     child, so that the child starts in it and the launcher's other
//     threads never are. The kernel then refuses every signal from the
//     sandbox to a process outside its domain, whatever its pid or thread
//     id, kill(-1) and SIGIO/SIGURG through F_SETOWN included; and, as in
//     every Landlock domain, ptrace, process_vm_readv/writev,
//     /proc/PID/mem and pidfd_getfd against anything outside it.
//   - A seccomp prefix to the sandbox's profile, or the whole filter
//     without one (seccomp.GuardProgram),
//     compiled for this launch with the pids of the launcher, its threads
//     and its parent's, and their process groups, as constants: those
//     calls aimed at them return EPERM (pidfd_open included, which
//     Landlock does not cover), and so does kill(-1). On a kernel without
//     the Landlock scope it is the only layer; it then also refuses the
//     ways of choosing a SIGIO target that it cannot read (F_SETOWN_EX,
//     FIOSETOWN, SIOCSPGRP), and threads the launcher starts later are not
//     in it.

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// guard is the launcher guard of one start.
type guard struct {
	scope bool // enter a Landlock domain with a signal scope before the clone
	nnp   bool // set no_new_privs on the cloning thread first (the sandbox asks for it)
}

// testNoLandlockScope, set only by this package's tests, plans the guard
// as on a kernel without the Landlock signal scope.
var testNoLandlockScope bool

// landlockScopeABI is the first Landlock ABI with LANDLOCK_SCOPE_SIGNAL.
const landlockScopeABI = 6

// planGuard decides the launcher guard of p and puts its seccomp part in
// front of p's filter. Nothing is changed in this process.
func (p *isolation) planGuard() error {
	if p.cloneflags&unix.CLONE_NEWPID != 0 {
		return nil
	}
	if len(p.opts.Namespaces) == 0 {
		// Options that make no namespace are no sandbox (the zero value:
		// a plain child sharing everything with its launcher, as a go-fork
		// child does): there is no boundary to keep the launcher behind.
		return nil
	}
	g := &guard{scope: !testNoLandlockScope && landlockABI() >= landlockScopeABI, nnp: p.opts.NoNewPrivileges}
	if g.scope && !g.nnp && !hasEffectiveCap(unix.CAP_SYS_ADMIN) {
		return fmt.Errorf("fork: launcher guard: the sandbox shares this process's pid namespace, and keeping this process out of its reach (a Landlock signal scope) needs noNewPrivileges or CAP_SYS_ADMIN: %w", unix.EPERM)
	}
	var archs []specs.Arch
	if p.opts.Seccomp != nil {
		archs = p.opts.Seccomp.Architectures
	}
	gp, err := seccomp.GuardProgram(guardTargets(!g.scope), runtime.GOARCH, archs)
	if err != nil {
		return fmt.Errorf("fork: launcher guard: %w", err)
	}
	// Without a profile the guard is the whole filter, loaded as a
	// profile's would be: last under no_new_privs, else early, while the
	// sandbox still holds CAP_SYS_ADMIN.
	if p.filter != nil {
		p.filter, err = p.filter.Guarded(gp)
	} else {
		p.filter, err = seccomp.NewProgram(gp)
	}
	if err != nil {
		return fmt.Errorf("fork: launcher guard: %w", err)
	}
	p.guard = g
	return nil
}

// guardTargets lists this process, its threads, its parent and the
// parent's threads, and both process groups. A pid namespace whose pid 1
// we are has no parent in it (getppid is 0).
func guardTargets(noOwnerByPointer bool) seccomp.Guard {
	self, parent := os.Getpid(), os.Getppid()
	g := seccomp.Guard{NoOwnerByPointer: noOwnerByPointer}
	g.Tasks = append(g.Tasks, self)
	if parent > 0 {
		g.Tasks = append(g.Tasks, parent)
	}
	for _, pid := range []int{self, parent} {
		if pid <= 0 {
			continue
		}
		if pg, err := unix.Getpgid(pid); err == nil && !slices.Contains(g.Groups, pg) {
			g.Groups = append(g.Groups, pg)
		}
		for _, tid := range threads(pid) {
			if len(g.Tasks) < seccomp.MaxGuardTasks && !slices.Contains(g.Tasks, tid) {
				g.Tasks = append(g.Tasks, tid)
			}
		}
	}
	return g
}

// threads lists the thread ids of pid (nil if /proc does not show them).
func threads(pid int) []int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out
}

// prepare runs on the locked thread that clones the child, and changes
// only that thread, which exits once the child is waited for.
func (g *guard) prepare() error {
	if g == nil || !g.scope {
		return nil
	}
	if g.nnp {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return sandbox.NewSetupError("launcher guard", "prctl PR_SET_NO_NEW_PRIVS", "", err)
		}
	}
	// Only the fields up to Scoped: a kernel of ABI 6 or 7 knows no more.
	attr := unix.LandlockRulesetAttr{Scoped: unix.LANDLOCK_SCOPE_SIGNAL}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Offsetof(attr.Scoped)+8, 0)
	if e != 0 {
		return &SetupError{Step: "launcher guard", Op: "landlock_create_ruleset scoped=signal", Errno: e}
	}
	defer unix.Close(int(fd))
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return &SetupError{Step: "launcher guard", Op: "landlock_restrict_self", Errno: e}
	}
	return nil
}

// landlockABI is the kernel's Landlock ABI version, 0 without Landlock.
func landlockABI() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
}

// hasEffectiveCap reports whether the calling thread has capability c.
func hasEffectiveCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}
