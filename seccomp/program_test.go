package seccomp

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

func TestProgramEncoding(t *testing.T) {
	eperm := uint(1)
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: &eperm,
		Flags:    []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"write"}, Action: specs.ActAllow}}}
	prog, err := CompileProgram(p, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := prog.MarshalBinary()
	var back Program
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.flags != flagLog || back.Len() != prog.Len() || back.Digest() != prog.Digest() {
		t.Fatalf("round trip: flags %#x, %d instructions (want %d), digest %s (want %s)", back.flags, back.Len(), prog.Len(), back.Digest(), prog.Digest())
	}
	for _, bad := range [][]byte{nil, b[:4], b[:len(b)-1], append([]byte{0, 0, 1, 0}, b[4:]...)} {
		if err := new(Program).UnmarshalBinary(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
	// The verdicts of the decoded program are the compiled one's.
	for _, c := range []struct {
		nr    uint32
		allow bool
	}{{1, true}, {0, false}, {59, false}} {
		got, err := back.Allows("amd64", c.nr)
		if err != nil || got != c.allow {
			t.Errorf("syscall %d: allows %v (%v), want %v", c.nr, got, err, c.allow)
		}
	}
	if _, err := back.Allows("mips", 1); err == nil {
		t.Error("an unknown architecture answered")
	}
}

func TestProgramFlagsCheckedOnce(t *testing.T) {
	prog := []bpf.Instruction{bpf.RetConstant{Val: retAllow}}
	if _, err := NewProgram(prog, specs.LinuxSeccompFlagWaitKillableRecv); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("WAIT_KILLABLE_RECV: %v", err)
	}
	if _, err := NewProgram(prog, "SECCOMP_FILTER_FLAG_BOGUS"); err == nil {
		t.Error("an unknown flag accepted")
	}
	if _, err := NewProgram(nil); err == nil {
		t.Error("an empty program accepted")
	}
	p, err := NewProgram(prog, specs.LinuxSeccompFlagSpecAllow)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Guarded([]bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}, bpf.RetConstant{Val: retAllow}})
	if err != nil {
		t.Fatal(err)
	}
	if g.flags != flagSpecAllow || g.Len() != 2 {
		t.Errorf("guarded: flags %#x, %d instructions", g.flags, g.Len())
	}
}
