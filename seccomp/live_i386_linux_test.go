package seccomp

import (
	"runtime"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestLiveProfileI386OnVM runs the filters of TestLiveErrno and
// TestLiveKill on golang.org/x/net/bpf's VM (and this package's counting
// interpreter) with i386 inputs: what the live tests try through int $0x80
// where the kernel has the i386 ABI, and the only place that branch runs
// where it does not (TestLiveErrno then reports it through
// testreq.KernelLacks).
func TestLiveProfileI386OnVM(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Logf("the i386 branch exists only in an amd64 filter; here (%s) liveProfile lists no foreign ABI", runtime.GOARCH)
		return
	}
	if nr := sysNr(&i386Syscalls, "getppid"); nr != getppidI386 {
		t.Fatalf("the live test calls i386 getppid as %d, the table says %d", getppidI386, nr)
	}
	eacces := retErrno | uint32(unix.EACCES)
	for _, c := range []struct {
		action specs.LinuxSeccompAction
		denied uint32 // what getppid gets
	}{{specs.ActErrno, eacces}, {specs.ActKillProcess, retKillProcess}} {
		prog, err := Compile(liveProfile(c.action), runtime.GOARCH)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := bpf.Assemble(prog)
		if err != nil {
			t.Fatal(err)
		}
		vm := mustVM(t, raw)
		check := func(what string, d seccompData, want uint32) {
			t.Helper()
			got := u32(t, vm, d.vmBytes(nil))
			if got != want {
				t.Errorf("%s: %s: VM %#x, want %#x", c.action, what, got, want)
			}
			if r, _ := run(t, raw, d.bytes(nil)); r != got {
				t.Errorf("%s: %s: interpreter %#x, VM %#x", c.action, what, r, got)
			}
		}
		umask := uint32(sysNr(&i386Syscalls, "umask"))
		check("i386 getppid", seccompData{nr: getppidI386, arch: auditArchI386}, c.denied)
		check("i386 umask(0777)", seccompData{nr: umask, arch: auditArchI386, args: [6]uint64{0o777}}, eacces)
		check("i386 umask(022)", seccompData{nr: umask, arch: auditArchI386, args: [6]uint64{0o22}}, retAllow)
		check("i386 umask(022, 0777)", seccompData{nr: umask, arch: auditArchI386, args: [6]uint64{0o22, 0o777}}, retAllow)
		check("i386 getpid", seccompData{nr: uint32(sysNr(&i386Syscalls, "getpid")), arch: auditArchI386}, retAllow)
		// The branch is chosen by the audit arch: the i386 numbers mean
		// other calls in the x86-64 ABI, which the profile allows unless
		// they are getppid or umask there too.
		for _, nr := range []uint32{getppidI386, umask} {
			want := uint32(retAllow)
			switch SyscallName("amd64", int(nr)) {
			case "getppid":
				want = c.denied
			case "umask":
				want = eacces
			}
			check("x86-64 call with an i386 number", seccompData{nr: nr, arch: auditArchX86_64}, want)
		}
	}
}
