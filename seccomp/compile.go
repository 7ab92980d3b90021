package seccomp

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Return values of a seccomp filter (SECCOMP_RET_* of <linux/seccomp.h>).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
	retData        = 0x0000ffff

	// maxErrno is the largest errno a filter may return (MAX_ERRNO).
	maxErrno = 4095
	// MaxInstructions is the kernel's limit on a filter (BPF_MAXINSNS).
	MaxInstructions = 4096
	// badArchAction is what a system call of an architecture the profile
	// does not list gets: libseccomp's default, SCMP_ACT_KILL (kill the thread).
	badArchAction = retKillThread
)

// seccomp_data offsets.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// CompileError is the error Compile returns for a profile it cannot turn
// into a filter. Field names the profile field in the OCI JSON spelling,
// e.g. "syscalls[3].args[0].op".
type CompileError struct {
	Field string
	Err   error
}

func (e *CompileError) Error() string {
	if e.Field == "" {
		return "seccomp: " + e.Err.Error()
	}
	return "seccomp: " + e.Field + ": " + e.Err.Error()
}

func (e *CompileError) Unwrap() error { return e.Err }

func errorf(field, format string, args ...any) error {
	return &CompileError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ErrTooLong is wrapped by the error for a filter of more than
// MaxInstructions instructions.
var ErrTooLong = errors.New("filter longer than BPF_MAXINSNS (4096) instructions")

// action turns an OCI action into a seccomp return value.
func action(a specs.LinuxSeccompAction, errnoRet *uint, field string) (uint32, error) {
	data := func(max uint) (uint32, error) {
		if errnoRet == nil {
			return uint32(unix.EPERM), nil
		}
		if *errnoRet > max {
			return 0, errorf(field, "errnoRet %d out of range [0, %d]", *errnoRet, max)
		}
		return uint32(*errnoRet), nil
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		d, err := data(maxErrno)
		return retErrno | d, err
	case specs.ActTrace:
		d, err := data(retData)
		return retTrace | d, err
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return 0, &CompileError{Field: field, Err: fmt.Errorf("action %s: %w (no listener support)", a, errors.ErrUnsupported)}
	case "":
		return 0, errorf(field, "missing action")
	}
	return 0, errorf(field, "unknown action %q", a)
}

// cond is one argument comparison of a rule.
type cond struct {
	index      uint
	op         specs.LinuxSeccompOperator
	value, two uint64
}

// rule is one syscall entry resolved to one syscall number.
type rule struct {
	action uint32
	conds  []cond
}

// outcome is what one range of syscall numbers does: ret when rules is
// empty, else the rules in order, then ret.
type outcome struct {
	rules  []rule
	ret    uint32
	bits32 bool // compare only the low halves of arguments
}

type segment struct {
	lo, hi uint32
	out    outcome
}

// Compile turns an OCI seccomp profile into a classic BPF seccomp filter for
// a process whose native architecture is arch (a GOARCH: "amd64" or
// "arm64"). It makes no system calls. See the package documentation for the
// semantics.
func Compile(p *specs.LinuxSeccomp, arch string) ([]bpf.Instruction, error) {
	if p == nil {
		return nil, errorf("", "nil profile (unconfined needs no filter)")
	}
	native, ok := nativeArch.Get(arch)
	if !ok {
		return nil, &CompileError{Field: "", Err: fmt.Errorf("native architecture %q: %w", arch, errors.ErrUnsupported)}
	}
	if p.ListenerPath != "" || len(p.ListenerMetadata) > 0 {
		return nil, &CompileError{Field: "listenerPath", Err: fmt.Errorf("seccomp notify listener: %w", errors.ErrUnsupported)}
	}
	if _, err := FlagBits(p.Flags); err != nil {
		return nil, err
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet, "defaultAction")
	if err != nil {
		return nil, err
	}
	// The native architecture is always filtered, as runc and libseccomp do.
	abis := []*archInfo{arches.Value(native)}
	for i, a := range p.Architectures {
		info, ok := arches.Get(a)
		if !ok {
			if strings.HasPrefix(string(a), "SCMP_ARCH_") {
				return nil, &CompileError{Field: fmt.Sprintf("architectures[%d]", i), Err: fmt.Errorf("architecture %s: %w", a, errors.ErrUnsupported)}
			}
			return nil, errorf(fmt.Sprintf("architectures[%d]", i), "unknown architecture %q", a)
		}
		dup := false
		for _, b := range abis {
			dup = dup || b == info
		}
		if !dup {
			abis = append(abis, info)
		}
	}

	// Resolve every entry for every ABI; keep profile order per number.
	perABI := make([]map[uint32][]rule, len(abis))
	for i := range perABI {
		perABI[i] = map[uint32][]rule{}
	}
	for i, sc := range p.Syscalls {
		field := fmt.Sprintf("syscalls[%d]", i)
		act, err := action(sc.Action, sc.ErrnoRet, field+".action")
		if err != nil {
			return nil, err
		}
		conds := make([]cond, 0, len(sc.Args))
		for j, a := range sc.Args {
			af := fmt.Sprintf("%s.args[%d]", field, j)
			if a.Index > 5 {
				return nil, errorf(af+".index", "argument index %d out of range [0, 5]", a.Index)
			}
			switch a.Op {
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
				specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
			case "":
				return nil, errorf(af+".op", "missing operator")
			default:
				return nil, errorf(af+".op", "unknown operator %q", a.Op)
			}
			conds = append(conds, cond{index: a.Index, op: a.Op, value: a.Value, two: a.ValueTwo})
		}
		if len(sc.Names) == 0 {
			return nil, errorf(field+".names", "no syscall names")
		}
		for j, name := range sc.Names {
			if !knownName(name) {
				return nil, errorf(fmt.Sprintf("%s.names[%d]", field, j), "unknown syscall %q", name)
			}
			if act == def {
				// libseccomp refuses a rule whose action is the default one
				// (EACCES) and runc drops it: so do we.
				continue
			}
			for k, abi := range abis {
				if nr, ok := abi.table.lookup(name); ok {
					perABI[k][uint32(nr)] = append(perABI[k][uint32(nr)], rule{action: act, conds: conds})
				} // else a syscall of another architecture
				if mux, ok := i386Multiplexed[name]; ok && abi.name == specs.ArchX86 {
					mc := []cond{{index: 0, op: specs.OpEqualTo, value: uint64(mux[1])}}
					for _, c := range conds {
						if c.index != 0 {
							mc = append(mc, c)
						}
					}
					perABI[k][mux[0]] = append(perABI[k][mux[0]], rule{action: act, conds: mc})
				}
			}
		}
	}

	enosys := def
	if def&0xffff0000 == retErrno {
		enosys = retErrno | uint32(unix.ENOSYS)
	}

	// Group the ABIs by audit arch; native first.
	var groups []uint32
	segs := map[uint32][]segment{}
	for _, abi := range abis {
		if _, ok := segs[abi.audit]; !ok {
			groups = append(groups, abi.audit)
			segs[abi.audit] = nil
		}
	}
	for _, g := range groups {
		var ss []segment
		for _, cand := range []specs.Arch{specs.ArchX86_64, specs.ArchX32, specs.ArchX86, specs.ArchAARCH64, specs.ArchARM} {
			info := arches.Value(cand)
			if info.audit != g {
				continue
			}
			k := -1
			for i, abi := range abis {
				if abi == info {
					k = i
				}
			}
			if k < 0 {
				ss = append(ss, segment{lo: info.lo, hi: info.hi, out: outcome{ret: badArchAction}})
				continue
			}
			ss = append(ss, abiSegments(info, perABI[k], def, enosys, info.bits32)...)
		}
		ss = append(ss, segment{lo: 0xffffffff, hi: 0xffffffff, out: outcome{ret: def}})
		sort.Slice(ss, func(i, j int) bool { return ss[i].lo < ss[j].lo })
		segs[g] = mergeSegments(ss)
	}

	var c codegen
	labels := c.archDispatch(groups)
	c.ret(badArchAction)
	for i, g := range groups {
		c.place(labels[i])
		c.load(offNr)
		c.tree(segs[g])
	}
	prog, err := c.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, &CompileError{Field: "syscalls", Err: fmt.Errorf("%d instructions: %w", len(prog), ErrTooLong)}
	}
	return prog, nil
}

// abiSegments covers [info.lo, info.hi] for one filtered ABI.
func abiSegments(info *archInfo, rules map[uint32][]rule, def, enosys uint32, bits32 bool) []segment {
	var ss []segment
	nrs := make([]uint32, 0, len(rules))
	for nr := range rules {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	next := info.lo
	for _, nr := range nrs {
		if nr > next {
			ss = append(ss, segment{lo: next, hi: nr - 1, out: outcome{ret: def}})
		}
		o := simplify(rules[nr], def)
		o.bits32 = bits32
		ss = append(ss, segment{lo: nr, hi: nr, out: o})
		next = nr + 1
	}
	if next <= info.table.maxNr {
		ss = append(ss, segment{lo: next, hi: info.table.maxNr, out: outcome{ret: def}})
		next = info.table.maxNr + 1
	}
	if next <= info.hi {
		ss = append(ss, segment{lo: next, hi: info.hi, out: outcome{ret: enosys}})
	}
	return ss
}

// simplify gives the outcome of one number's rules: an unconditional rule
// decides alone, wherever it stands (libseccomp drops the conditional rules
// of a syscall that has an unconditional one); otherwise the rules are tried
// in profile order.
func simplify(rs []rule, def uint32) outcome {
	for _, r := range rs {
		if len(r.conds) == 0 {
			return outcome{ret: r.action}
		}
	}
	return outcome{rules: rs, ret: def}
}

func mergeSegments(ss []segment) []segment {
	out := ss[:0:0]
	for _, s := range ss {
		if n := len(out); n > 0 && len(s.out.rules) == 0 && len(out[n-1].out.rules) == 0 &&
			out[n-1].out.ret == s.out.ret && out[n-1].hi+1 == s.lo {
			out[n-1].hi = s.hi
			continue
		}
		out = append(out, s)
	}
	return out
}
