//go:build linux

package cgroups

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runDeviceProgram interprets the instructions deviceProgram emits, with
// the context the kernel passes, and returns r0. It fails the test on an
// instruction it does not know, a jump out of the program, or a register
// read before it is written.
func runDeviceProgram(t *testing.T, p []insn, typ, access, major, minor uint32) uint64 {
	t.Helper()
	var reg [11]uint64
	var set [11]bool
	ctx := [3]uint32{access<<16 | typ, major, minor}
	reg[rCtx], set[rCtx] = 0, true
	get := func(r uint8) uint64 {
		if !set[r] {
			t.Fatalf("r%d read before written", r)
		}
		return reg[r]
	}
	put := func(r uint8, v uint64) { reg[r], set[r] = v, true }
	for pc := 0; ; pc++ {
		if pc < 0 || pc >= len(p) {
			t.Fatalf("pc %d out of the program (%d instructions)", pc, len(p))
		}
		in := p[pc]
		imm := uint64(int64(in.imm))
		switch in.code {
		case opLdxW:
			if in.src != rCtx || in.off%4 != 0 || in.off < 0 || in.off > 8 {
				t.Fatalf("pc %d: bad context load %+v", pc, in)
			}
			put(in.dst, uint64(ctx[in.off/4]))
		case opMov64Imm:
			put(in.dst, imm)
		case opMov64Reg:
			put(in.dst, get(in.src))
		case opAnd64Imm:
			put(in.dst, get(in.dst)&imm)
		case opAnd64Reg:
			put(in.dst, get(in.dst)&get(in.src))
		case opOr64Imm:
			put(in.dst, get(in.dst)|imm)
		case opXor64Imm:
			put(in.dst, get(in.dst)^imm)
		case opRsh64Imm:
			put(in.dst, get(in.dst)>>uint(in.imm))
		case opJne32Imm:
			if uint32(get(in.dst)) != uint32(in.imm) {
				pc += int(in.off)
			}
		case opJneImm:
			if get(in.dst) != imm {
				pc += int(in.off)
			}
		case opExit:
			return get(rRet)
		default:
			t.Fatalf("pc %d: unknown opcode %#x", pc, in.code)
		}
	}
}

// refAllowed is the meaning of a rule list, written plainly: each access
// bit asked for is decided by the last rule that matches the device and
// names that bit; no such rule denies.
func refAllowed(rules []devRule, typ, access, major, minor uint32) bool {
	if access == 0 || access&^devAccessAll != 0 {
		return access == 0
	}
	for bit := uint32(1); bit <= devAccessWrite; bit <<= 1 {
		if access&bit == 0 {
			continue
		}
		ok := false
		for _, r := range rules {
			if (r.typ == 0 || r.typ == typ) && (r.major < 0 || uint32(r.major) == major) &&
				(r.minor < 0 || uint32(r.minor) == minor) && r.access&bit != 0 {
				ok = r.allow
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func i64(v int64) *int64 { return &v }

func TestDeviceProgramSemantics(t *testing.T) {
	lists := map[string][]specs.LinuxDeviceCgroup{
		"runc spec":        withDefaultDevices(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}).Devices,
		"deny one access":  withDefaultDevices(devRules()).Devices,
		"allow all":        {{Allow: true, Type: "a"}},
		"empty":            {},
		"block then deny":  {{Allow: true, Type: "b", Access: "rw"}, {Allow: false, Type: "b", Major: i64(8), Access: "w"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}},
		"split access":     {{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "w"}},
		"deny after allow": {{Allow: true, Type: "c", Access: ""}, {Allow: false, Type: "c", Major: i64(136), Access: "m"}, {Allow: false, Major: i64(1), Minor: i64(11)}},
		"wildcard -1":      {{Allow: true, Type: "c", Major: i64(-1), Minor: i64(7), Access: "rw"}},
		"big numbers":      {{Allow: true, Type: "c", Major: i64(4095), Minor: i64(1<<20 - 1), Access: "r"}},
	}
	type dev struct{ major, minor uint32 }
	devs := []dev{{1, 3}, {1, 5}, {1, 7}, {1, 11}, {5, 2}, {136, 0}, {136, 7}, {8, 0}, {259, 1}, {4095, 1<<20 - 1}, {0x80000001, 2}}
	for name, list := range lists {
		p, err := deviceProgram(list)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var rules []devRule
		for _, d := range list {
			r, err := parseDeviceRule(d)
			if err != nil {
				t.Fatal(err)
			}
			rules = append(rules, r)
		}
		n := 0
		for _, typ := range []uint32{devTypeBlock, devTypeChar} {
			for _, d := range devs {
				for access := uint32(1); access <= 8; access++ { // 8: a bit nobody knows
					got := runDeviceProgram(t, p, typ, access, d.major, d.minor) == 1
					if want := refAllowed(rules, typ, access, d.major, d.minor); got != want {
						t.Errorf("%s: type %d %d:%d access %03b: program says %v, rules say %v", name, typ, d.major, d.minor, access, got, want)
					}
					n += map[bool]int{true: 1}[got]
				}
			}
		}
		t.Logf("%s: %d rules, %d instructions, %d of %d requests allowed", name, len(list), len(p), n, 2*len(devs)*8)
	}
	// Spot checks that do not go through refAllowed.
	p, _ := deviceProgram(withDefaultDevices(devRules()).Devices)
	for _, c := range []struct {
		typ, access, major, minor uint32
		want                      uint64
	}{
		{devTypeChar, devAccessRead | devAccessWrite, 1, 3, 1},
		{devTypeChar, devAccessRead, 1, 5, 1},
		{devTypeChar, devAccessWrite, 1, 5, 0},
		{devTypeChar, devAccessRead | devAccessWrite, 1, 5, 0},
		{devTypeChar, devAccessRead, 1, 11, 0},
		{devTypeBlock, devAccessRead, 1, 3, 0},
		{devTypeChar, devAccessMknod, 136, 4, 1},
	} {
		if got := runDeviceProgram(t, p, c.typ, c.access, c.major, c.minor); got != c.want {
			t.Errorf("type %d %d:%d access %03b: %d, want %d", c.typ, c.major, c.minor, c.access, got, c.want)
		}
	}
}

func TestDeviceProgramEncoding(t *testing.T) {
	p, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}})
	if err != nil {
		t.Fatal(err)
	}
	// Little-endian layout of struct bpf_insn: code, dst|src<<4, off, imm.
	want := strings.Join([]string{
		"6112000000000000", // r2 = *(u32 *)(r1 + 0)
		"bf23000000000000", // r3 = r2
		"57020000ffff0000", // r2 &= 0xffff
		"7703000010000000", // r3 >>= 16
		"6114040000000000", // r4 = *(u32 *)(r1 + 4)
		"6115080000000000", // r5 = *(u32 *)(r1 + 8)
		"b706000000000000", // r6 = 0
		"5602030002000000", // if w2 != 2 goto +3
		"5604020001000000", // if w4 != 1 goto +2
		"5605010003000000", // if w5 != 3 goto +1
		"4706000006000000", // r6 |= 6
		"a7060000ffffffff", // r6 ^= -1
		"5f63000000000000", // r3 &= r6
		"b700000000000000", // r0 = 0
		"5503010000000000", // if r3 != 0 goto +1
		"b700000001000000", // r0 = 1
		"9500000000000000", // exit
	}, "")
	got := encodeInsns(p)
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		// Big-endian: swap the nibbles and the byte order of off and imm.
		le := make([]byte, len(got))
		for i := 0; i < len(got); i += 8 {
			le[i] = got[i]
			le[i+1] = got[i+1]>>4 | got[i+1]<<4
			binary.LittleEndian.PutUint16(le[i+2:], binary.BigEndian.Uint16(got[i+2:]))
			binary.LittleEndian.PutUint32(le[i+4:], binary.BigEndian.Uint32(got[i+4:]))
		}
		got = le
	}
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("encoding:\n got %s\nwant %s", h, want)
	}
}

func TestDeviceRuleErrors(t *testing.T) {
	for _, d := range []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "x"},
		{Allow: true, Type: "c", Access: "rwx"},
		{Allow: true, Type: "c", Major: i64(1 << 32)},
		{Allow: true, Type: "c", Minor: i64(-2)},
	} {
		_, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: false}, d})
		if err == nil || !strings.Contains(err.Error(), "linux.resources.devices[1]") {
			t.Errorf("%+v: err %v, want one naming linux.resources.devices[1]", d, err)
		}
		if _, err := v1DeviceRule(d); err == nil {
			t.Errorf("%+v: v1 rule accepted", d)
		}
	}
}

func TestV1DeviceLines(t *testing.T) {
	ws, err := v1Writes(withDefaultDevices(devRules()), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.file+" "+w.value)
	}
	want := []string{"devices.deny a", "devices.deny a"}
	for _, d := range defaultDevices() {
		l, _ := v1DeviceRule(d)
		want = append(want, "devices.allow "+l)
	}
	want = append(want, "devices.deny c 1:5 w")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("v1 device writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if want[2] != "devices.allow c 1:3 rwm" || want[len(want)-2] != "devices.allow c 136:* rwm" {
		t.Errorf("default lines %q", want)
	}
}
