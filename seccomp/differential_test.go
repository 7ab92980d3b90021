package seccomp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const python = "/usr/bin/python3"

type libReport struct {
	Unknown []string `json:"unknown"`
	Errors  []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	} `json:"errors"`
}

// libseccompCompile builds p with libseccomp through python3-seccomp
// (testdata/libseccomp_export.py) and returns the raw exported program.
func libseccompCompile(t testing.TB, p *specs.LinuxSeccomp) ([]bpf.RawInstruction, libReport) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		need(t, "%s: %v", python, err)
	}
	if err := exec.Command(python, "-c", "import seccomp").Run(); err != nil {
		need(t, "python3 module seccomp (Debian package python3-seccomp): %v", err)
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet, "")
	if err != nil {
		t.Fatal(err)
	}
	type arg struct {
		Index    uint   `json:"index"`
		Op       string `json:"op"`
		Value    uint64 `json:"value"`
		ValueTwo uint64 `json:"valueTwo"`
	}
	type rl struct {
		Action uint32 `json:"action"`
		Name   string `json:"name"`
		Args   []arg  `json:"args"`
	}
	req := struct {
		Default uint32   `json:"default"`
		Arches  []string `json:"arches"`
		Rules   []rl     `json:"rules"`
	}{Default: def}
	for _, a := range p.Architectures {
		req.Arches = append(req.Arches, strings.TrimPrefix(string(a), "SCMP_ARCH_"))
	}
	for _, s := range p.Syscalls {
		act, err := action(s.Action, s.ErrnoRet, "")
		if err != nil {
			t.Fatal(err)
		}
		if act == def {
			continue // libseccomp refuses these (EACCES); runc and Compile drop them
		}
		var args []arg
		for _, a := range s.Args {
			args = append(args, arg{a.Index, strings.TrimPrefix(string(a.Op), "SCMP_CMP_"), a.Value, a.ValueTwo})
		}
		for _, n := range s.Names {
			req.Rules = append(req.Rules, rl{act, n, args})
		}
	}
	in, _ := json.Marshal(req)
	out := filepath.Join(t.TempDir(), "filter.bpf")
	cmd := exec.Command(python, "testdata/libseccomp_export.py", out)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rep, err := cmd.Output()
	if err != nil {
		t.Fatalf("libseccomp_export.py: %v\n%s", err, stderr.Bytes())
	}
	var r libReport
	if err := json.Unmarshal(rep, &r); err != nil {
		t.Fatalf("libseccomp_export.py report %q: %v", rep, err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)%8 != 0 || len(raw) == 0 {
		t.Fatalf("libseccomp program of %d bytes", len(raw))
	}
	prog := make([]bpf.RawInstruction, len(raw)/8)
	for i := range prog {
		b := raw[8*i:]
		prog[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
	}
	return prog, r
}

func mustVM(t testing.TB, prog []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return vm
}

func u32(t testing.TB, vm *bpf.VM, in []byte) uint32 {
	r, err := vm.Run(in)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	return uint32(r) // the VM returns the 32-bit seccomp value as an int
}

var u64Edges = []uint64{0, 1, 2, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1 << 63, 1<<64 - 1, 1<<64 - 2, 0xffffffff00000000}

// argPool is the values tried as arguments: edges and each rule constant
// of p with its neighbours and high/low halves.
func argPool(p *specs.LinuxSeccomp) []uint64 {
	set := map[uint64]bool{}
	for _, v := range u64Edges {
		set[v] = true
	}
	for _, s := range p.Syscalls {
		for _, a := range s.Args {
			for _, v := range []uint64{a.Value, a.ValueTwo, a.Value | a.ValueTwo, a.ValueTwo &^ a.Value} {
				for _, d := range []uint64{v - 1, v, v + 1, v & 0xffffffff, v >> 32 << 32, v ^ 1<<32, v | 1<<32} {
					set[d] = true
				}
			}
		}
	}
	pool := make([]uint64, 0, len(set))
	for v := range set {
		pool = append(pool, v)
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i] < pool[j] })
	return pool
}

type diffCase struct {
	name string
	p    *specs.LinuxSeccomp
}

func uptr(v uint) *uint { return &v }

func handProfiles() []diffCase {
	allow := specs.ActAllow
	arg := func(i uint, op specs.LinuxSeccompOperator, v, two uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: two}
	}
	sys := func(name string, a specs.LinuxSeccompAction, errno *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: a, ErrnoRet: errno, Args: args}
	}
	ops := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			sys("read", allow, nil),
			sys("write", allow, nil, arg(0, specs.OpEqualTo, 1, 0)),
			sys("write", specs.ActLog, nil, arg(0, specs.OpEqualTo, 2, 0)),
			sys("openat", allow, nil, arg(2, specs.OpMaskedEqual, 3, 0)),
			sys("ioctl", specs.ActErrno, uptr(25), arg(1, specs.OpMaskedEqual, 0xffffffff0000ff00, 0x5400)),
			sys("mmap", allow, nil, arg(2, specs.OpNotEqual, 7, 0)),
			sys("lseek", allow, nil, arg(1, specs.OpLessThan, 1<<32, 0)),
			sys("pread64", allow, nil, arg(3, specs.OpLessEqual, 1<<32+5, 0)),
			sys("pwrite64", specs.ActTrap, nil, arg(3, specs.OpGreaterEqual, 0xffffffff, 0)),
			sys("kill", specs.ActKillProcess, nil, arg(1, specs.OpGreaterThan, 0x7fffffff, 0)),
			sys("tgkill", specs.ActKillProcess, nil, arg(2, specs.OpGreaterThan, 0x1_0000_0009, 0)),
			sys("getpid", specs.ActTrace, uptr(42), nil...),
			sys("getppid", specs.ActKill, nil),
			sys("tkill", specs.ActKillThread, nil),
			sys("socket", allow, nil, arg(0, specs.OpEqualTo, 1, 0), arg(1, specs.OpLessThan, 5, 0)),
			sys("close", specs.ActErrno, uptr(9)),
			sys("personality", allow, nil, arg(0, specs.OpEqualTo, 0xffffffff, 0)),
			sys("fcntl", allow, nil, arg(1, specs.OpNotEqual, 0x1_0000_0000, 0)),
			sys("dup3", allow, nil, arg(2, specs.OpMaskedEqual, 0x8_0000_0000, 0x8_0000_0000)),
			sys("_llseek", allow, nil),
		},
	}
	blacklist := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			sys("ptrace", specs.ActErrno, nil),
			sys("mount", specs.ActKillProcess, nil),
			sys("socket", specs.ActErrno, uptr(97), arg(0, specs.OpEqualTo, 40, 0)),
			sys("socket", specs.ActErrno, uptr(97), arg(0, specs.OpGreaterEqual, 46, 0)),
			sys("read", specs.ActAllow, nil), // same as the default: dropped
			sys("clone", specs.ActErrno, uptr(1), arg(0, specs.OpMaskedEqual, 0x7e020000, 0x10000000)),
		},
	}
	kill := &specs.LinuxSeccomp{
		DefaultAction: specs.ActKillProcess,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group", "futex", "rt_sigreturn", "mmap", "mmap2"}, Action: allow},
			sys("openat", specs.ActLog, nil),
			sys("setuid", specs.ActErrno, uptr(0)),
			sys("setgid", specs.ActErrno, uptr(4094)), // libseccomp 2.5.4 refuses 4095 (EINVAL); the kernel takes it,
			sys("prctl", allow, nil, arg(0, specs.OpLessEqual, 0xffffffff, 0), arg(1, specs.OpGreaterThan, 1<<40, 0)),
		},
	}
	trapOr := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActTrap,
		DefaultErrnoRet: uptr(3),
		Architectures:   []specs.Arch{specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			sys("write", allow, nil, arg(0, specs.OpEqualTo, 1, 0)),
			sys("write", allow, nil, arg(0, specs.OpEqualTo, 2, 0)),
			sys("write", allow, nil, arg(2, specs.OpLessEqual, 10, 0)),
			sys("read", allow, nil, arg(0, specs.OpNotEqual, 0, 0), arg(1, specs.OpNotEqual, 0, 0), arg(2, specs.OpGreaterEqual, 1<<33, 0)),
			sys("exit", specs.ActKillProcess, nil),
		},
	}
	enosys := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uptr(uint(unix.ENOSYS)),
		Syscalls:        []specs.LinuxSyscall{{Names: []string{"read", "write", "close"}, Action: allow}},
	}
	// Entries of one syscall with different actions: libseccomp lets an
	// unconditional entry decide alone, in either order; disjoint or
	// nested-by-argument conditional entries keep their order.
	conflict := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			sys("write", allow, nil, arg(0, specs.OpEqualTo, 1, 0)),
			sys("write", specs.ActLog, nil),
			sys("read", specs.ActLog, nil),
			sys("read", allow, nil, arg(0, specs.OpEqualTo, 1, 0)),
			sys("close", specs.ActErrno, uptr(5), arg(1, specs.OpEqualTo, 2, 0)),
			sys("close", allow, nil, arg(0, specs.OpEqualTo, 1, 0)),
			sys("dup", specs.ActTrap, nil, arg(0, specs.OpEqualTo, 1, 0)),
			sys("dup", allow, nil, arg(0, specs.OpEqualTo, 2, 0)),
		},
	}
	return []diffCase{{"conflict", conflict}, {"ops", ops}, {"blacklist", blacklist}, {"kill-x86", kill}, {"trap-or-x32", trapOr}, {"enosys", enosys}}
}

// abiOfInput returns the filtered ABI an input belongs to, or nil.
func abiOfInput(p *specs.LinuxSeccomp, native specs.Arch, audit, nr uint32) *archInfo {
	list := append([]specs.Arch{native}, p.Architectures...)
	for _, n := range list {
		a := arches.Value(n)
		if a.audit == audit && nr >= a.lo && nr <= a.hi {
			return a
		}
	}
	return nil
}

func differential(t *testing.T, name string, p *specs.LinuxSeccomp, perNr, perRuleNr int) int {
	native := nativeArch.Value(runtime.GOARCH)
	mine, err := Compile(p, runtime.GOARCH)
	if err != nil {
		t.Fatalf("%s: Compile: %v", name, err)
	}
	myRaw, err := bpf.Assemble(mine)
	if err != nil {
		t.Fatalf("%s: Assemble: %v", name, err)
	}
	libRaw, rep := libseccompCompile(t, p)
	if len(rep.Errors) > 0 {
		t.Fatalf("%s: libseccomp refused rules: %+v", name, rep.Errors)
	}
	myVM, libVM := mustVM(t, myRaw), mustVM(t, libRaw)
	def, _ := action(p.DefaultAction, p.DefaultErrnoRet, "")
	enosys := def&0xffff0000 == retErrno && def != retErrno|uint32(unix.ENOSYS)

	// numbers whose rules libseccomp skipped: not comparable
	skip := map[[2]uint32]bool{}
	for _, n := range rep.Unknown {
		for _, a := range append([]specs.Arch{native}, p.Architectures...) {
			if nr, ok := arches.Value(a).table.lookup(n); ok {
				skip[[2]uint32{arches.Value(a).audit, uint32(nr)}] = true
			}
		}
	}
	ruleNrs := map[[2]uint32]bool{}
	for _, s := range p.Syscalls {
		if len(s.Args) == 0 {
			continue
		}
		for _, n := range s.Names {
			for _, a := range append([]specs.Arch{native}, p.Architectures...) {
				if nr, ok := arches.Value(a).table.lookup(n); ok {
					ruleNrs[[2]uint32{arches.Value(a).audit, uint32(nr)}] = true
				}
			}
		}
	}

	audits := []uint32{auditArchX86_64, auditArchI386, auditArchAARCH64, auditArchARM, 0, 0xffffffff, 0x40000028 ^ 1, 0xc000003f}
	nrEdges := []uint32{x32SyscallBit - 1, x32SyscallBit, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x40000200, 0x4fffffff}
	pool := argPool(p)
	rng := rand.New(rand.NewPCG(1, uint64(len(name))))
	var buf []byte
	count, skipped, enosysHits := 0, 0, 0
	var d seccompData
	for _, audit := range audits {
		nrs := append([]uint32(nil), nrEdges...)
		for nr := uint32(0); nr < 600; nr++ {
			nrs = append(nrs, nr, nr|x32SyscallBit)
		}
		for _, p := range arches {
			a := p.Val
			if a.audit == audit {
				for _, e := range a.table.entries {
					nrs = append(nrs, uint32(e.nr))
				}
			}
		}
		for _, nr := range nrs {
			if skip[[2]uint32{audit, nr}] {
				skipped++
				continue
			}
			n := perNr
			if ruleNrs[[2]uint32{audit, nr}] {
				n = perRuleNr
			}
			if audit != auditArchX86_64 && audit != auditArchI386 && audit != auditArchAARCH64 && audit != auditArchARM {
				n = 1
			}
			for i := 0; i < n; i++ {
				d = seccompData{nr: nr, arch: audit, ip: rng.Uint64()}
				for k := range d.args {
					if rng.IntN(8) == 0 {
						d.args[k] = rng.Uint64()
					} else {
						d.args[k] = pool[rng.IntN(len(pool))]
					}
				}
				buf = d.vmBytes(buf)
				got, want := u32(t, myVM, buf), u32(t, libVM, buf)
				if count%97 == 0 { // the VM and the counting interpreter agree
					kb := d.bytes(nil)
					if r, _ := run(t, myRaw, kb); r != got {
						t.Fatalf("%s: input %+v: VM %#x, interpreter %#x", name, d, got, r)
					}
					if r, _ := run(t, libRaw, kb); r != want {
						t.Fatalf("%s: input %+v: VM %#x, interpreter %#x (libseccomp)", name, d, want, r)
					}
				}
				count++
				if enosys && got == retErrno|uint32(unix.ENOSYS) && want == def {
					if a := abiOfInput(p, native, audit, nr); a != nil && nr > a.table.maxNr && nr != 0xffffffff {
						enosysHits++
						continue
					}
				}
				if got != want {
					t.Fatalf("%s: input %+v: nsfork %#x, libseccomp %#x (%s)", name, d, got, want, SyscallName(runtime.GOARCH, int(nr)))
				}
			}
		}
	}
	t.Logf("%s: %d inputs agree (%d ENOSYS for numbers above the table), %d numbers skipped for names libseccomp 2.5.4 lacks %v; nsfork %d instructions, libseccomp %d",
		name, count, enosysHits, skipped, rep.Unknown, len(myRaw), len(libRaw))
	return count
}

func TestDifferentialLibseccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		need(t, "amd64 host (the differential inputs are amd64's)")
	}
	perNr, perRule := 30, 1000
	if testing.Short() {
		perNr, perRule = 10, 200
	}
	cases := handProfiles()
	for _, caps := range []struct {
		name string
		caps []string
	}{{"default-root", allCaps()}, {"default-nocaps", nil}} {
		p, err := DefaultProfile(caps.caps, runtime.GOARCH)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, diffCase{caps.name, p})
	}
	total := 0
	for _, c := range cases {
		total += differential(t, c.name, c.p, perNr, perRule)
	}
	t.Logf("differential: %d inputs in total", total)
	if !testing.Short() && total < 1_000_000 {
		t.Fatalf("only %d inputs", total)
	}
}

// allCaps is every capability name, as root has them.
func allCaps() []string {
	names := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
		"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
		"CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
		"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
		"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
		"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
	return names
}
