package seccomp

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// TestPrebuiltCurrent holds zdefault.go to the live compiler: for each
// architecture, Docker's default profile without capabilities as
// DefaultProfile resolves it now has the fingerprint recorded, and Compile
// and bpf.Assemble make exactly the recorded program of it. A change of the
// compiler or of moby/profiles fails here until `go generate ./seccomp`.
func TestPrebuiltCurrent(t *testing.T) {
	if len(prebuiltFilters) == 0 {
		t.Fatal("zdefault.go holds no program")
	}
	for _, pb := range prebuiltFilters {
		p, err := DefaultProfile(nil, pb.arch)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := fingerprint(p)
		if err != nil {
			t.Fatal(err)
		}
		if sum != pb.sum {
			t.Errorf("%s: DefaultProfile(nil) is not the profile zdefault.go was made from: run go generate ./seccomp", pb.arch)
			continue
		}
		prog, err := Compile(p, pb.arch)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := bpf.Assemble(prog)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(raw, pb.prog) {
			t.Errorf("%s: the compiler now makes a different program (%d instructions, zdefault.go %d): run go generate ./seccomp", pb.arch, len(raw), len(pb.prog))
		}
		got, err := Assemble(p, pb.arch)
		if err != nil || !slices.Equal(got, pb.prog) {
			t.Errorf("%s: Assemble(default) = %d instructions, %v; want the prebuilt program", pb.arch, len(got), err)
		}
	}
}

// TestAssembleOtherProfiles: a profile that differs from the default in
// one field (an errno, a name dropped, a flag) is compiled, not answered
// with the prebuilt program; a bad one is still an error.
func TestAssembleOtherProfiles(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		base, err := DefaultProfile(nil, arch)
		if err != nil {
			t.Fatal(err)
		}
		pre, err := Assemble(base, arch)
		if err != nil {
			t.Fatal(err)
		}
		for name, change := range map[string]func(p *specs.LinuxSeccomp){
			"errno":   func(p *specs.LinuxSeccomp) { e := uint(13); p.DefaultErrnoRet = &e },
			"name":    func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = p.Syscalls[0].Names[1:] },
			"arches":  func(p *specs.LinuxSeccomp) { p.Architectures = nil },
			"default": func(p *specs.LinuxSeccomp) { p.DefaultAction = specs.ActKillProcess },
		} {
			p, _ := DefaultProfile(nil, arch)
			change(p)
			got, err := Assemble(p, arch)
			if err != nil {
				t.Fatalf("%s %s: %v", arch, name, err)
			}
			prog, err := Compile(p, arch)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := bpf.Assemble(prog)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: Assemble differs from Compile", arch, name)
			}
			if slices.Equal(got, pre) {
				t.Errorf("%s %s: the changed profile got the default's program", arch, name)
			}
		}
		bad := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_call"}, Action: specs.ActAllow}}}
		if _, err := Assemble(bad, arch); err == nil {
			t.Errorf("%s: Assemble accepted an unknown syscall", arch)
		}
	}
	if _, err := Assemble(nil, "amd64"); err == nil {
		t.Error("Assemble(nil) succeeded")
	}
}

func BenchmarkAssembleDefault(b *testing.B) {
	p, err := DefaultProfile(nil, "amd64")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Assemble(p, "amd64"); err != nil {
			b.Fatal(err)
		}
	}
}
