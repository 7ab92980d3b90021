package seccomp

import (
	"encoding/binary"
	"os/exec"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/nsfork/nsfork/internal/testreq"
)

// need fails the test when NSFORK_REQUIRE_ALL=1 (CI) and skips it, saying
// why, otherwise. Call it when something a test needs is missing.
func need(t testing.TB, format string, args ...any) {
	t.Helper()
	testreq.Need(t, false, format, args...)
}

// needTool returns the path of tool or calls need.
func needTool(t testing.TB, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		need(t, "%s (Debian package %s): %v", tool, pkg, err)
	}
	return p
}

// seccompData is struct seccomp_data, little-endian.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d *seccompData) bytes(b []byte) []byte {
	b = b[:0]
	b = binary.LittleEndian.AppendUint32(b, d.nr)
	b = binary.LittleEndian.AppendUint32(b, d.arch)
	b = binary.LittleEndian.AppendUint64(b, d.ip)
	for _, a := range d.args {
		b = binary.LittleEndian.AppendUint64(b, a)
	}
	return b
}

// vmBytes is the same seccomp_data laid out for golang.org/x/net/bpf's
// VM, which loads 32-bit words in network (big-endian) order: each 32-bit
// word the kernel would read little-endian is stored big-endian, so that
// the VM's "ld [k]" sees the value the kernel's does.
func (d *seccompData) vmBytes(b []byte) []byte {
	b = b[:0]
	b = binary.BigEndian.AppendUint32(b, d.nr)
	b = binary.BigEndian.AppendUint32(b, d.arch)
	for _, v := range append([]uint64{d.ip}, d.args[:]...) {
		b = binary.BigEndian.AppendUint32(b, uint32(v))     // low word at +0
		b = binary.BigEndian.AppendUint32(b, uint32(v>>32)) // high word at +4
	}
	return b
}

// run executes a raw program like the kernel does and counts the
// instructions executed. It covers what this package and libseccomp emit.
func run(t testing.TB, prog []bpf.RawInstruction, in []byte) (ret uint32, steps int) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		steps++
		ins := prog[pc]
		switch ins.Op {
		case 0x20: // ld [k]
			a = binary.LittleEndian.Uint32(in[ins.K:])
		case 0x06: // ret k
			return ins.K, steps
		case 0x16: // ret a
			return a, steps
		case 0x05: // ja
			pc += int(ins.K)
		case 0x15, 0x25, 0x35, 0x45: // jeq, jgt, jge, jset k
			var c bool
			switch ins.Op {
			case 0x15:
				c = a == ins.K
			case 0x25:
				c = a > ins.K
			case 0x35:
				c = a >= ins.K
			case 0x45:
				c = a&ins.K != 0
			}
			if c {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case 0x54: // and k
			a &= ins.K
		case 0x00: // ld k
			a = ins.K
		case 0x01: // ldx k
			x = ins.K
		case 0x02: // st
			mem[ins.K] = a
		case 0x03: // stx
			mem[ins.K] = x
		case 0x60: // ld M[k]
			a = mem[ins.K]
		case 0x61: // ldx M[k]
			x = mem[ins.K]
		case 0x87: // txa
			a = x
		case 0x07: // tax
			x = a
		default:
			t.Fatalf("run: unhandled opcode %#x at %d", ins.Op, pc)
		}
	}
	t.Fatalf("run: fell off the end")
	return 0, 0
}

// sysNr is the number of the system call name in table t; it panics on a
// name t lacks (a test's own mistake).
func sysNr(t *sysTable, name string) int {
	nr, ok := t.lookup(name)
	if !ok {
		panic("no syscall " + name + " in the table")
	}
	return nr
}
