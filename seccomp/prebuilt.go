package seccomp

import (
	"crypto/sha256"
	"encoding/json"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// prebuilt is Docker's default profile for a process without capabilities
// (DefaultProfile(nil, arch)) compiled and assembled by `go generate`
// (internal/gendefault, zdefault.go): sum is the SHA-256 of the profile's
// JSON, prog the program Compile and bpf.Assemble make of it.
// TestPrebuiltCurrent holds both to the live compiler.
type prebuilt struct {
	arch string
	sum  [sha256.Size]byte
	prog []bpf.RawInstruction
}

// fingerprint is the SHA-256 of p's JSON encoding: two profiles with the
// same fingerprint compile to the same program.
func fingerprint(p *specs.LinuxSeccomp) ([sha256.Size]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Assemble compiles p for the native architecture arch (see Compile) and
// assembles the program for the kernel. Docker's default profile without
// capabilities, the one sandboxrun loads unless told otherwise, is
// recognised by its fingerprint and answered with the program compiled from
// it at build time, which saves the compilation (about 1 MB and 2400
// allocations, 1-5 ms on the 2-vCPU VM this project measures on) on every
// start.
func Assemble(p *specs.LinuxSeccomp, arch string) ([]bpf.RawInstruction, error) {
	if p != nil {
		for i := range prebuiltFilters {
			pb := &prebuiltFilters[i]
			if pb.arch != arch {
				continue
			}
			if sum, err := fingerprint(p); err == nil && sum == pb.sum {
				return slices.Clone(pb.prog), nil
			}
		}
	}
	prog, err := Compile(p, arch)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, &CompileError{Err: err}
	}
	return raw, nil
}
