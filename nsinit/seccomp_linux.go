package nsinit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// Filter is a compiled seccomp program as the parent sends it.
type Filter struct {
	Raw []bpf.RawInstruction
}

// DecodeFilter turns the 8-byte-per-instruction wire form into a Filter.
func DecodeFilter(b []byte) (*Filter, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%8 != 0 || len(b)/8 > seccomp.MaxInstructions {
		return nil, fmt.Errorf("seccomp filter of %d bytes is not a program", len(b))
	}
	f := &Filter{Raw: make([]bpf.RawInstruction, len(b)/8)}
	for i := range f.Raw {
		w := b[i*8:]
		f.Raw[i] = bpf.RawInstruction{Op: uint16(w[0]) | uint16(w[1])<<8, Jt: w[2], Jf: w[3],
			K: uint32(w[4]) | uint32(w[5])<<8 | uint32(w[6])<<16 | uint32(w[7])<<24}
	}
	return f, nil
}

// EncodeFilter is the inverse of DecodeFilter.
func EncodeFilter(raw []bpf.RawInstruction) []byte {
	b := make([]byte, 0, len(raw)*8)
	for _, r := range raw {
		b = append(b, byte(r.Op), byte(r.Op>>8), r.Jt, r.Jf, byte(r.K), byte(r.K>>8), byte(r.K>>16), byte(r.K>>24))
	}
	return b
}

func loadFilter(o *sandbox.Options, cfg Config, a *Applied, early bool) error {
	if cfg.Filter == nil {
		if o.Seccomp != nil {
			return fail("seccomp", "load", "", fmt.Errorf("a profile without a compiled filter"))
		}
		return nil
	}
	prog, ok := bpf.Disassemble(cfg.Filter.Raw)
	if !ok {
		return fail("seccomp", "disassemble", "", fmt.Errorf("not a classic BPF program"))
	}
	// A filter without a profile is the launcher guard alone (package
	// fork), for a sandbox that shares the launcher's pid namespace.
	var flags []specs.LinuxSeccompFlag
	if o.Seccomp != nil {
		flags = o.Seccomp.Flags
	}
	if err := seccomp.Load(prog, flags...); err != nil {
		return fail("seccomp", "load filter", "", err)
	}
	sum := sha256.Sum256(EncodeFilter(cfg.Filter.Raw))
	a.Seccomp = &sandbox.SeccompReport{Instructions: len(prog), Digest: hex.EncodeToString(sum[:]), Early: early}
	return nil
}

// stepSeccompEarly: without no_new_privs the kernel takes a filter only from
// a process holding CAP_SYS_ADMIN, so it is loaded before the id change
// and the capability steps can take that away (the filter must then allow
// what those steps do).
func stepSeccompEarly(o *sandbox.Options, cfg Config, a *Applied) error {
	if o.NoNewPrivileges {
		return nil
	}
	return loadFilter(o, cfg, a, true)
}

// stepSeccomp loads the filter last, on every thread (TSYNC).
func stepSeccomp(o *sandbox.Options, cfg Config, a *Applied) error {
	if !o.NoNewPrivileges {
		return nil
	}
	return loadFilter(o, cfg, a, false)
}
