package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Guard names the processes a sandbox must not reach: its launcher and the
// launcher's parent, when the sandbox shares their pid namespace. The
// numbers are as that pid namespace sees them.
type Guard struct {
	// Tasks are process and thread ids the sandbox must not signal,
	// trace, open a pidfd of, read or write the memory of, renice,
	// reschedule or change the limits of.
	Tasks []int
	// Groups are process group ids the sandbox must not signal or renice.
	Groups []int
	// NoOwnerByPointer also refuses the requests whose target process sits
	// behind a pointer the filter cannot read: fcntl F_SETOWN_EX and the
	// ioctls FIOSETOWN and SIOCSPGRP, which choose who gets SIGIO and
	// SIGURG. Set it when nothing else (a Landlock signal scope) stops
	// those signals.
	NoOwnerByPointer bool
}

// MaxGuardTasks bounds Guard.Tasks, so that a guarded profile stays far
// below BPF_MAXINSNS.
const MaxGuardTasks = 128

// Values of <linux/fcntl.h>, <linux/sockios.h>, <linux/resource.h> and
// <linux/ioprio.h> that the guard compares with.
const (
	fSetOwn       = 8      // F_SETOWN
	fSetOwnEx     = 15     // F_SETOWN_EX
	fioSetOwn     = 0x8901 // FIOSETOWN
	siocSPGrp     = 0x8902 // SIOCSPGRP
	prioUser      = 2      // PRIO_USER
	ioprioWhoUser = 3      // IOPRIO_WHO_USER
)

// guardDeny is what a guarded call returns: EPERM, as the kernel's own
// permission checks do.
const guardDeny = retErrno | uint32(unix.EPERM)

// test is one argument compared with a set of values; only the low 32
// bits count, as the kernel reads every one of these arguments as an int.
type test struct {
	arg  uint
	vals []uint32
}

// alternative holds when every one of its tests holds.
type alternative []test

// GuardProgram compiles g into a filter for a process whose native
// architecture is arch (a GOARCH), covering the ABIs archs (a profile's
// architectures; the native one always). A guarded call returns EPERM;
// every other one, and any call of another architecture, reaches the last
// instruction, which returns SECCOMP_RET_ALLOW. Prepend puts the program in
// front of a profile's, where that last instruction becomes "ask the
// profile". It makes no system calls.
func GuardProgram(g Guard, arch string, archs []specs.Arch) ([]bpf.Instruction, error) {
	native, ok := nativeArch.Get(arch)
	if !ok {
		return nil, &CompileError{Err: fmt.Errorf("native architecture %q: %w", arch, errors.ErrUnsupported)}
	}
	if len(g.Tasks) > MaxGuardTasks || len(g.Groups) > MaxGuardTasks {
		return nil, &CompileError{Field: "guard", Err: fmt.Errorf("%d tasks and %d groups: at most %d of each", len(g.Tasks), len(g.Groups), MaxGuardTasks)}
	}
	abis := []*archInfo{arches.Value(native)}
	for _, a := range archs {
		info, ok := arches.Get(a)
		if !ok {
			return nil, &CompileError{Field: "architectures", Err: fmt.Errorf("architecture %s: %w", a, errors.ErrUnsupported)}
		}
		dup := false
		for _, b := range abis {
			dup = dup || b == info
		}
		if !dup {
			abis = append(abis, info)
		}
	}

	tasks := words(g.Tasks)
	var groups []uint32
	for _, p := range g.Groups {
		if p > 0 {
			groups = append(groups, uint32(int32(-p)))
		}
	}
	// kill(-1) reaches every process the caller may signal.
	killable := append(append(append([]uint32{}, tasks...), groups...), uint32(0xffffffff))
	byPid := append(append([]uint32{}, tasks...), words(g.Groups)...)
	one := func(arg uint, vals []uint32) []alternative { return []alternative{{{arg, vals}}} }
	entries := []struct {
		names []string
		alts  []alternative
	}{
		{[]string{"kill", "rt_sigqueueinfo"}, one(0, killable)},
		{[]string{"tkill", "pidfd_open", "process_vm_readv", "process_vm_writev", "prlimit64",
			"sched_setscheduler", "sched_setparam", "sched_setattr", "sched_setaffinity"}, one(0, tasks)},
		{[]string{"tgkill", "rt_tgsigqueueinfo"}, append(one(0, tasks), one(1, tasks)...)},
		{[]string{"ptrace"}, one(1, tasks)},
		{[]string{"setpriority"}, append(one(0, []uint32{prioUser}), one(1, byPid)...)},
		{[]string{"ioprio_set"}, append(one(0, []uint32{ioprioWhoUser}), one(1, byPid)...)},
	}
	fcntl := []alternative{{{1, []uint32{fSetOwn}}, {2, killable}}}
	if g.NoOwnerByPointer {
		fcntl = append(fcntl, alternative{{1, []uint32{fSetOwnEx}}})
		entries = append(entries, struct {
			names []string
			alts  []alternative
		}{[]string{"ioctl"}, one(1, []uint32{fioSetOwn, siocSPGrp})})
	}
	entries = append(entries, struct {
		names []string
		alts  []alternative
	}{[]string{"fcntl", "fcntl64"}, fcntl})

	var c codegen
	pass, deny := c.newLabel(), c.newLabel()
	// Group the ABIs by audit arch, as Compile does.
	var audits []uint32
	byAudit := map[uint32][]*archInfo{}
	for _, a := range abis {
		if _, ok := byAudit[a.audit]; !ok {
			audits = append(audits, a.audit)
		}
		byAudit[a.audit] = append(byAudit[a.audit], a)
	}
	starts := c.archDispatch(audits)
	c.goTo(pass)
	// One block per entry, shared by its names and ABIs.
	blocks := make([]label, len(entries))
	for i := range blocks {
		blocks[i] = c.newLabel()
	}
	for i, au := range audits {
		c.place(starts[i])
		c.load(offNr)
		for _, abi := range byAudit[au] {
			for k, e := range entries {
				for _, n := range e.names {
					nr, ok := abi.table.lookup(n)
					if !ok {
						continue
					}
					next := c.newLabel()
					c.jump(bpf.JumpEqual, uint32(nr), blocks[k], next)
					c.place(next)
				}
			}
		}
		c.goTo(pass)
	}
	for k, e := range entries {
		c.place(blocks[k])
		for _, alt := range e.alts {
			fail := c.newLabel()
			for _, t := range alt {
				c.load(argOff(t.arg, false))
				hit := c.newLabel()
				for _, v := range t.vals {
					next := c.newLabel()
					c.jump(bpf.JumpEqual, v, hit, next)
					c.place(next)
				}
				c.goTo(fail)
				c.place(hit)
			}
			c.goTo(deny)
			c.place(fail)
		}
		c.goTo(pass)
	}
	c.place(deny)
	c.ret(guardDeny)
	c.place(pass)
	c.ret(retAllow)
	prog, err := c.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, &CompileError{Field: "guard", Err: fmt.Errorf("%d instructions: %w", len(prog), ErrTooLong)}
	}
	return prog, nil
}

// Prepend returns guard followed by prog, guard's last instruction (its
// SECCOMP_RET_ALLOW) replaced by prog's first: a call the guard lets pass
// is decided by prog.
func Prepend(guard, prog []bpf.Instruction) ([]bpf.Instruction, error) {
	if len(guard) == 0 || guard[len(guard)-1] != (bpf.RetConstant{Val: retAllow}) {
		return nil, &CompileError{Field: "guard", Err: errors.New("not a guard program (it must end in SECCOMP_RET_ALLOW)")}
	}
	if len(prog) == 0 {
		return nil, &CompileError{Field: "guard", Err: errors.New("an empty program to guard")}
	}
	out := append(append(make([]bpf.Instruction, 0, len(guard)-1+len(prog)), guard[:len(guard)-1]...), prog...)
	if len(out) > MaxInstructions {
		return nil, &CompileError{Field: "guard", Err: fmt.Errorf("%d instructions with the guard: %w", len(out), ErrTooLong)}
	}
	return out, nil
}

// words turns pids into the 32-bit words the filter compares.
func words(pids []int) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	for _, p := range pids {
		if p <= 0 {
			continue
		}
		w := uint32(int32(p))
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
