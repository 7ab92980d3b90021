package seccomp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	mseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestCompileErrors(t *testing.T) {
	big := uint(4096)
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, c := range []struct {
		name  string
		p     *specs.LinuxSeccomp
		arch  string
		field string
		is    error
	}{
		{"nil", nil, "amd64", "", nil},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "mips", "", errors.ErrUnsupported},
		{"default action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, "amd64", "defaultAction", nil},
		{"missing default", &specs.LinuxSeccomp{}, "amd64", "defaultAction", nil},
		{"default errno", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: &big}, "amd64", "defaultAction", nil},
		{"notify", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}}, "amd64", "syscalls[0].action", errors.ErrUnsupported},
		{"listener", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/x"}, "amd64", "listenerPath", errors.ErrUnsupported},
		{"unknown name", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok, {Names: []string{"read", "no_such_call"}, Action: specs.ActAllow}}}, "amd64", "syscalls[1].names[1]", nil},
		{"no names", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Action: specs.ActAllow}}}, "amd64", "syscalls[0].names", nil},
		{"op", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_SORTA"}}}}}, "amd64", "syscalls[0].args[0].op", nil},
		{"index", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "amd64", "syscalls[0].args[0].index", nil},
		{"errno", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: &big}}}, "amd64", "syscalls[0].action", nil},
		{"architecture", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, "amd64", "architectures[0]", errors.ErrUnsupported},
		{"flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NOPE"}}, "amd64", "flags[0]", nil},
	} {
		_, err := Compile(c.p, c.arch)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %T %v, want *CompileError", c.name, err, err)
			continue
		}
		if ce.Field != c.field {
			t.Errorf("%s: field %q, want %q (%v)", c.name, ce.Field, c.field, err)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v does not wrap %v", c.name, err, c.is)
		}
		if !strings.HasPrefix(err.Error(), "seccomp: ") {
			t.Errorf("%s: %q", c.name, err)
		}
	}
}

func TestCompileTooLong(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for _, e := range amd64Syscalls.entries {
		name := e.name
		for v := uint64(1); v <= 3; v++ {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: v << 40}}})
		}
	}
	_, err := Compile(p, "amd64")
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
}

// A name of another architecture is skipped, not an error: Docker's
// profile lists some.
func TestCompileOtherArchName(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"_llseek", "s390_runtime_instr", "read"}, Action: specs.ActAllow}}}
	prog, err := Compile(p, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	for nr, want := range map[uint32]uint32{0: retAllow, 1: retErrno | 1, 999: retErrno | uint32(unix.ENOSYS), 0xffffffff: retErrno | 1} {
		d := seccompData{nr: nr, arch: auditArchX86_64}
		if got, _ := run(t, raw, d.bytes(nil)); got != want {
			t.Errorf("nr %d: %#x, want %#x", nr, got, want)
		}
	}
	for _, audit := range []uint32{auditArchI386, auditArchAARCH64, 0} {
		d := seccompData{nr: 0, arch: audit}
		if got, _ := run(t, raw, d.bytes(nil)); got != badArchAction {
			t.Errorf("arch %#x: %#x, want the bad-arch action", audit, got)
		}
	}
	d := seccompData{nr: x32SyscallBit, arch: auditArchX86_64}
	if got, _ := run(t, raw, d.bytes(nil)); got != badArchAction {
		t.Errorf("x32 read without x32 listed: %#x, want the bad-arch action", got)
	}
}

func TestDefaultProfileMatchesMoby(t *testing.T) {
	for _, caps := range [][]string{nil, allCaps(), {"CAP_SYS_ADMIN"}, {"CAP_SYS_PTRACE", "CAP_BPF"}} {
		want, err := mseccomp.GetDefaultProfile(capsSpec(caps))
		if err != nil {
			t.Fatal(err)
		}
		got, err := resolveDocker(mseccomp.DefaultProfile(), caps, runtime.GOARCH)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("caps %v: own resolution differs from moby's", caps)
		}
		viaAPI, err := DefaultProfile(caps, runtime.GOARCH)
		if err != nil || !reflect.DeepEqual(viaAPI, want) {
			t.Errorf("caps %v: DefaultProfile differs from moby's: %v", caps, err)
		}
	}
	// the capability set matters
	root, _ := DefaultProfile(allCaps(), "amd64")
	none, _ := DefaultProfile(nil, "amd64")
	if reflect.DeepEqual(root.Syscalls, none.Syscalls) {
		t.Error("root and no-caps default profiles are the same")
	}
	// and so does the architecture
	arm, err := DefaultProfile(nil, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(arm.Architectures, []specs.Arch{specs.ArchAARCH64, specs.ArchARM}) {
		t.Errorf("arm64 architectures %v", arm.Architectures)
	}
	if _, err := Compile(arm, "arm64"); err != nil {
		t.Errorf("arm64 default profile: %v", err)
	}
}

func TestLoadProfileForms(t *testing.T) {
	oci := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`)
	p, err := LoadProfile(oci, nil, runtime.GOARCH)
	if err != nil || p.DefaultAction != specs.ActErrno || len(p.Syscalls) != 1 {
		t.Fatalf("OCI: %+v, %v", p, err)
	}
	if _, err := LoadProfile([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscals":[]}`), nil, runtime.GOARCH); err == nil {
		t.Error("OCI profile with an unknown field: no error")
	}
	docker := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]},{"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
	  "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}`)
	for _, arch := range []string{"amd64", "arm64"} {
		for _, c := range []struct {
			caps []string
			n    int
		}{{nil, 1}, {[]string{"CAP_SYS_ADMIN"}, 2}} {
			p, err := LoadProfile(docker, c.caps, arch)
			if err != nil {
				t.Fatalf("Docker %s: %v", arch, err)
			}
			if len(p.Syscalls) != c.n || len(p.Architectures) != 2 || p.Architectures[0] != nativeArch.Value(arch) {
				t.Errorf("Docker %s caps %v: %+v", arch, c.caps, p)
			}
		}
	}
	if p, err := LoadProfile([]byte(`{}`), nil, runtime.GOARCH); p != nil || err != nil {
		t.Errorf("empty profile: %v, %v; want unconfined", p, err)
	}
	// Docker's own default.json form round-trips through LoadProfile.
	b, err := json.Marshal(mseccomp.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := LoadProfile(b, nil, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := DefaultProfile(nil, runtime.GOARCH)
	if !reflect.DeepEqual(fromJSON, def) {
		t.Error("default.json through LoadProfile differs from DefaultProfile")
	}
}

func TestNamed(t *testing.T) {
	if p, err := Named("unconfined", nil, runtime.GOARCH); p != nil || err != nil {
		t.Errorf("unconfined: %v %v", p, err)
	}
	if p, err := Named("default", nil, runtime.GOARCH); p == nil || err != nil {
		t.Errorf("default: %v %v", p, err)
	}
	path := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(path, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644)
	if p, err := Named(path, nil, runtime.GOARCH); err != nil || p.DefaultAction != specs.ActAllow {
		t.Errorf("file: %v %v", p, err)
	}
	if _, err := Named(filepath.Join(t.TempDir(), "missing.json"), nil, runtime.GOARCH); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzCompile: any JSON profile either fails to compile or gives a program
// that assembles, fits the kernel's limit and returns on every input.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_KILL_PROCESS","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["write","socket"],"action":"SCMP_ACT_TRACE","errnoRet":7,"args":[{"index":1,"value":18446744073709551615,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"},{"index":0,"value":4294967296,"op":"SCMP_CMP_LE"}]}]}`))
	def, _ := DefaultProfile(nil, "amd64")
	b, _ := json.Marshal(def)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p specs.LinuxSeccomp
		if json.Unmarshal(data, &p) != nil {
			return
		}
		for _, arch := range []string{"amd64", "arm64"} {
			prog, err := Compile(&p, arch)
			if err != nil {
				var ce *CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("error %T %v is not a *CompileError", err, err)
				}
				continue
			}
			if len(prog) > MaxInstructions {
				t.Fatalf("%d instructions", len(prog))
			}
			raw, err := bpf.Assemble(prog)
			if err != nil {
				t.Fatalf("Assemble: %v", err)
			}
			for _, audit := range []uint32{auditArchX86_64, auditArchAARCH64, auditArchI386} {
				d := seccompData{nr: 1, arch: audit, args: [6]uint64{1, 1 << 40}}
				run(t, raw, d.bytes(nil))
			}
		}
	})
}
