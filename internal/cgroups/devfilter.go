package cgroups

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The cgroup v2 device filter: OCI linux.resources.devices compiled to an
// eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE. The kernel runs it on
// every open and mknod of a device node by a process of the cgroup, with a
// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } as
// context, where access_type is (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*;
// the program returns 1 to allow and 0 to deny (EPERM).
//
// The program keeps, in a register, the set of accesses allowed to the
// device asked for: empty at first (deny by default), then each rule in
// order that matches the device's type, major and minor adds its accesses
// (allow) or takes them away (deny), so the last matching rule wins for
// each of read, write and mknod, as on cgroup v1's devices.allow and
// devices.deny. The access asked for is allowed only if every one of its
// bits is in the set; an access bit the program does not know is denied.

// Device types and accesses as the kernel's bpf_cgroup_dev_ctx encodes them
// (include/uapi/linux/bpf.h).
const (
	devTypeBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devTypeChar  = 2 // BPF_DEVCG_DEV_CHAR

	devAccessMknod = 1 // BPF_DEVCG_ACC_MKNOD
	devAccessRead  = 2 // BPF_DEVCG_ACC_READ
	devAccessWrite = 4 // BPF_DEVCG_ACC_WRITE
	devAccessAll   = devAccessMknod | devAccessRead | devAccessWrite
)

// devRule is an OCI device rule checked and reduced to numbers.
type devRule struct {
	allow  bool
	typ    uint32 // 0 for every type ("a"), else devTypeBlock or devTypeChar
	major  int64  // -1 for every major
	minor  int64  // -1 for every minor
	access uint32 // devAccess* bits
}

// parseDeviceRule checks one OCI device rule.
func parseDeviceRule(d specs.LinuxDeviceCgroup) (devRule, error) {
	r := devRule{allow: d.Allow, major: -1, minor: -1}
	switch d.Type {
	case "", "a":
	case "b":
		r.typ = devTypeBlock
	case "c":
		r.typ = devTypeChar
	default:
		return r, fmt.Errorf("device type %q: want a, b or c", d.Type)
	}
	for _, n := range []struct {
		name string
		p    *int64
		out  *int64
	}{{"major", d.Major, &r.major}, {"minor", d.Minor, &r.minor}} {
		if n.p == nil || *n.p == -1 {
			continue
		}
		if *n.p < 0 || *n.p > math.MaxUint32 {
			return r, fmt.Errorf("device %s %d out of range", n.name, *n.p)
		}
		*n.out = *n.p
	}
	if d.Access == "" {
		r.access = devAccessAll
	}
	for _, c := range d.Access {
		switch c {
		case 'r':
			r.access |= devAccessRead
		case 'w':
			r.access |= devAccessWrite
		case 'm':
			r.access |= devAccessMknod
		default:
			return r, fmt.Errorf("device access %q: want letters of \"rwm\"", d.Access)
		}
	}
	return r, nil
}

// insn is one eBPF instruction (struct bpf_insn).
type insn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

// The few eBPF opcodes the device filter uses (include/uapi/linux/bpf.h,
// bpf_common.h): class | size/op | source.
const (
	opLdxW     = 0x61 // BPF_LDX|BPF_MEM|BPF_W: dst = *(u32 *)(src + off)
	opMov64Imm = 0xb7 // BPF_ALU64|BPF_MOV|BPF_K
	opMov64Reg = 0xbf // BPF_ALU64|BPF_MOV|BPF_X
	opAnd64Imm = 0x57 // BPF_ALU64|BPF_AND|BPF_K
	opAnd64Reg = 0x5f // BPF_ALU64|BPF_AND|BPF_X
	opOr64Imm  = 0x47 // BPF_ALU64|BPF_OR|BPF_K
	opXor64Imm = 0xa7 // BPF_ALU64|BPF_XOR|BPF_K
	opRsh64Imm = 0x77 // BPF_ALU64|BPF_RSH|BPF_K
	opJne32Imm = 0x56 // BPF_JMP32|BPF_JNE|BPF_K: compares the low 32 bits
	opJneImm   = 0x55 // BPF_JMP|BPF_JNE|BPF_K
	opExit     = 0x95 // BPF_JMP|BPF_EXIT
)

// Registers of the program: r1 holds the context on entry, r0 the result.
const (
	rRet    = 0
	rCtx    = 1
	rType   = 2 // device type
	rAccess = 3 // access asked for
	rMajor  = 4
	rMinor  = 5
	rSet    = 6 // accesses allowed so far
)

// deviceProgram compiles OCI device rules (defaults already added) to the
// filter described above.
func deviceProgram(devs []specs.LinuxDeviceCgroup) ([]insn, error) {
	p := []insn{
		{code: opLdxW, dst: rType, src: rCtx, off: 0},
		{code: opMov64Reg, dst: rAccess, src: rType},
		{code: opAnd64Imm, dst: rType, imm: 0xffff},
		{code: opRsh64Imm, dst: rAccess, imm: 16},
		{code: opLdxW, dst: rMajor, src: rCtx, off: 4},
		{code: opLdxW, dst: rMinor, src: rCtx, off: 8},
		{code: opMov64Imm, dst: rSet, imm: 0},
	}
	for i, d := range devs {
		r, err := parseDeviceRule(d)
		if err != nil {
			return nil, fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		var checks []insn
		if r.typ != 0 {
			checks = append(checks, insn{code: opJne32Imm, dst: rType, imm: int32(r.typ)})
		}
		if r.major >= 0 {
			checks = append(checks, insn{code: opJne32Imm, dst: rMajor, imm: int32(uint32(r.major))})
		}
		if r.minor >= 0 {
			checks = append(checks, insn{code: opJne32Imm, dst: rMinor, imm: int32(uint32(r.minor))})
		}
		for k := range checks {
			checks[k].off = int16(len(checks) - k) // past the rule's action
		}
		p = append(p, checks...)
		if r.allow {
			p = append(p, insn{code: opOr64Imm, dst: rSet, imm: int32(r.access)})
		} else {
			p = append(p, insn{code: opAnd64Imm, dst: rSet, imm: ^int32(r.access)})
		}
	}
	// Allowed when (asked &^ set) == 0.
	p = append(p,
		insn{code: opXor64Imm, dst: rSet, imm: -1},
		insn{code: opAnd64Reg, dst: rAccess, src: rSet},
		insn{code: opMov64Imm, dst: rRet, imm: 0},
		insn{code: opJneImm, dst: rAccess, imm: 0, off: 1},
		insn{code: opMov64Imm, dst: rRet, imm: 1},
		insn{code: opExit},
	)
	return p, nil
}

// encodeInsns lays instructions out as the kernel reads struct bpf_insn on
// this machine: the register nibbles are a bitfield, dst in the low nibble
// on a little-endian machine and in the high one on a big-endian machine.
func encodeInsns(p []insn) []byte {
	bigEndian := binary.NativeEndian.Uint16([]byte{0, 1}) == 1
	out := make([]byte, 0, 8*len(p))
	for _, in := range p {
		regs := in.dst&0xf | in.src<<4
		if bigEndian {
			regs = in.dst<<4 | in.src&0xf
		}
		out = append(out, in.code, regs)
		out = binary.NativeEndian.AppendUint16(out, uint16(in.off))
		out = binary.NativeEndian.AppendUint32(out, uint32(in.imm))
	}
	return out
}

// v1DeviceRule formats an OCI device rule as a devices.allow/deny line:
// "<type> <major>:<minor> <access>", "*" for an absent or negative number.
func v1DeviceRule(d specs.LinuxDeviceCgroup) (string, error) {
	r, err := parseDeviceRule(d)
	if err != nil {
		return "", err
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	if typ == "a" && r.major < 0 && r.minor < 0 && r.access == devAccessAll {
		return "a", nil
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access), nil
}
