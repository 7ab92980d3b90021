package seccomp

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// guarded is the profile and guard the guard tests share: Docker's
// default profile (which allows every call below unconditionally), with
// i386 and x32 as Docker lists them on amd64.
func guarded(t *testing.T, g Guard) []bpf.Instruction {
	t.Helper()
	p, err := DefaultProfile(nil, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	main, err := Compile(p, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	gp, err := GuardProgram(g, "amd64", p.Architectures)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Prepend(gp, main)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// verdicts runs d through prog on x/net/bpf's VM and on this package's
// runner, and fails when they disagree.
func verdict(t *testing.T, prog []bpf.Instruction, d seccompData) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vm.Run(d.vmBytes(nil))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	own, _ := run(t, raw, d.bytes(nil))
	if uint32(got) != own {
		t.Fatalf("x/net/bpf says %#x, the kernel-like runner %#x", got, own)
	}
	return own
}

func TestGuardProgram(t *testing.T) {
	const launcher, thread, parent, pgid, other = 4242, 4250, 4000, 4242, 5555
	prog := guarded(t, Guard{Tasks: []int{launcher, thread, parent}, Groups: []int{pgid}})
	neg := func(p int) uint64 { return uint64(int64(-p)) }
	x64 := func(name string, args ...uint64) seccompData {
		d := seccompData{nr: uint32(sysNr(&amd64Syscalls, name)), arch: auditArchX86_64}
		copy(d.args[:], args)
		return d
	}
	cases := []struct {
		what string
		d    seccompData
		deny bool
	}{
		{"kill launcher", x64("kill", launcher, 19), true},
		{"kill launcher, high bits set", x64("kill", 0xdead_0000_0000|launcher, 19), true},
		{"kill a launcher thread", x64("kill", thread, 19), true},
		{"kill parent", x64("kill", parent, 9), true},
		{"kill -1", x64("kill", neg(1), 9), true},
		{"kill -1 as a 32-bit word", x64("kill", 0xffffffff, 9), true},
		{"kill the launcher's group", x64("kill", neg(pgid), 19), true},
		{"kill another process", x64("kill", other, 19), false},
		{"kill own group", x64("kill", 0, 15), false},
		{"tkill thread", x64("tkill", thread, 19), true},
		{"tkill other", x64("tkill", other, 19), false},
		{"tgkill launcher", x64("tgkill", launcher, other, 19), true},
		{"tgkill by tid", x64("tgkill", other, thread, 19), true},
		{"tgkill other", x64("tgkill", other, other+1, 19), false},
		{"rt_sigqueueinfo parent", x64("rt_sigqueueinfo", parent, 19, 0), true},
		{"rt_tgsigqueueinfo launcher", x64("rt_tgsigqueueinfo", launcher, launcher, 19, 0), true},
		{"pidfd_open launcher", x64("pidfd_open", launcher, 0), true},
		{"pidfd_open thread", x64("pidfd_open", thread, unix.O_EXCL /* PIDFD_THREAD */), true},
		{"pidfd_open other", x64("pidfd_open", other, 0), false},
		{"ptrace attach launcher", x64("ptrace", unix.PTRACE_ATTACH, launcher), true},
		{"ptrace seize parent", x64("ptrace", unix.PTRACE_SEIZE, parent), true},
		{"ptrace traceme", x64("ptrace", unix.PTRACE_TRACEME, 0), false},
		{"process_vm_writev parent", x64("process_vm_writev", parent), true},
		{"process_vm_readv other", x64("process_vm_readv", other), false},
		{"prlimit64 launcher", x64("prlimit64", launcher, unix.RLIMIT_CPU), true},
		{"prlimit64 self", x64("prlimit64", 0, unix.RLIMIT_CPU), false},
		{"sched_setattr thread", x64("sched_setattr", thread), true},
		{"setpriority launcher", x64("setpriority", unix.PRIO_PROCESS, launcher, 19), true},
		{"setpriority group", x64("setpriority", unix.PRIO_PGRP, pgid, 19), true},
		{"setpriority user", x64("setpriority", prioUser, 1000, 19), true},
		{"setpriority self", x64("setpriority", unix.PRIO_PROCESS, 0, 19), false},
		{"fcntl F_SETOWN launcher", x64("fcntl", 3, fSetOwn, launcher), true},
		{"fcntl F_SETOWN group", x64("fcntl", 3, fSetOwn, neg(pgid)), true},
		{"fcntl F_SETOWN other", x64("fcntl", 3, fSetOwn, other), false},
		{"fcntl F_GETFL", x64("fcntl", 3, unix.F_GETFL, launcher), false},
		{"fcntl F_SETOWN_EX (Landlock scopes it)", x64("fcntl", 3, fSetOwnEx, 0), false},
		{"getpid", x64("getpid"), false},
		{"i386 kill launcher", seccompData{nr: uint32(sysNr(&i386Syscalls, "kill")), arch: auditArchI386, args: [6]uint64{launcher, 19}}, true},
		{"i386 kill other", seccompData{nr: uint32(sysNr(&i386Syscalls, "kill")), arch: auditArchI386, args: [6]uint64{other, 19}}, false},
		{"x32 kill launcher", seccompData{nr: uint32(sysNr(&x32Syscalls, "kill")), arch: auditArchX86_64, args: [6]uint64{launcher, 19}}, true},
		{"x32 ptrace launcher", seccompData{nr: uint32(sysNr(&x32Syscalls, "ptrace")), arch: auditArchX86_64, args: [6]uint64{unix.PTRACE_ATTACH, launcher}}, true},
	}
	p, _ := DefaultProfile(nil, "amd64")
	main, _ := Compile(p, "amd64")
	for _, c := range cases {
		got := verdict(t, prog, c.d)
		want := verdict(t, main, c.d) // what the profile alone says
		if c.deny {
			want = guardDeny
		}
		if got != want {
			t.Errorf("%s: %#x, want %#x", c.what, got, want)
		}
	}

	strict := guarded(t, Guard{Tasks: []int{launcher}, NoOwnerByPointer: true})
	for _, d := range []seccompData{x64("fcntl", 3, fSetOwnEx, 0), x64("ioctl", 3, fioSetOwn, 0), x64("ioctl", 3, siocSPGrp, 0)} {
		if got := verdict(t, strict, d); got != guardDeny {
			t.Errorf("NoOwnerByPointer: nr %d arg1 %#x: %#x, want EPERM", d.nr, d.args[1], got)
		}
	}
}

// TestGuardProgramSize: a launcher with many threads and a parent with
// many more still fit, and far jumps are laid out right.
func TestGuardProgramSize(t *testing.T) {
	var tasks []int
	for i := range MaxGuardTasks {
		tasks = append(tasks, 10000+i)
	}
	prog := guarded(t, Guard{Tasks: tasks, Groups: []int{10000}})
	for _, p := range []int{10000, 10050, 10000 + MaxGuardTasks - 1} {
		if got := verdict(t, prog, seccompData{nr: uint32(sysNr(&amd64Syscalls, "tkill")), arch: auditArchX86_64, args: [6]uint64{uint64(p), 19}}); got != guardDeny {
			t.Errorf("tkill %d: %#x, want EPERM", p, got)
		}
	}
	if got := verdict(t, prog, seccompData{nr: uint32(sysNr(&amd64Syscalls, "tkill")), arch: auditArchX86_64, args: [6]uint64{10000 + MaxGuardTasks, 19}}); got != retAllow {
		t.Errorf("tkill past the last task: %#x, want ALLOW", got)
	}
	t.Logf("%d instructions", len(prog))
}

func TestPrependRefusesNonGuard(t *testing.T) {
	if _, err := Prepend([]bpf.Instruction{bpf.RetConstant{Val: retKillThread}}, []bpf.Instruction{bpf.RetConstant{Val: retAllow}}); err == nil {
		t.Error("Prepend took a program that does not end in ALLOW")
	}
	if _, err := GuardProgram(Guard{}, "mips", nil); err == nil {
		t.Error("GuardProgram took an unknown architecture")
	}
	if _, err := GuardProgram(Guard{}, "amd64", []specs.Arch{"SCMP_ARCH_PPC"}); err == nil {
		t.Error("GuardProgram took an unsupported architecture")
	}
}
