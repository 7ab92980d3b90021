package int80

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const rawEnv = "NSFORK_INT80_TEST_RAW"

// TestMain doubles as the child of TestProbeAgreesWithRawCall: with
// NSFORK_INT80_TEST_RAW=1 it makes the call without any recovery and
// prints the result, or dies as the runtime does on a fault.
func TestMain(m *testing.M) {
	if os.Getenv(rawEnv) == "1" {
		fmt.Println(Syscall(getppidI386, 0, 0, 0), os.Getppid())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProbeAgreesWithRawCall: Probe's verdict is what the kernel does to a
// process that makes the call unprotected. Available: the call returns
// the parent's pid. Off: the process dies of SIGSEGV with si_code
// SI_KERNEL (0x80), the kernel's signal for a general protection fault,
// not a bad address.
func TestProbeAgreesWithRawCall(t *testing.T) {
	perr := Probe()
	if !Supported {
		if !errors.Is(perr, errors.ErrUnsupported) {
			t.Fatalf("Probe on a build without the stub: %v, want ErrUnsupported", perr)
		}
		return
	}
	if perr != nil && !errors.Is(perr, ErrOff) {
		t.Fatalf("Probe: %v (neither available nor off: is a seccomp filter in the way?)", perr)
	}
	t.Logf("Probe: %v", perr)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rawEnv+"=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if perr == nil {
		var got, want int
		if _, serr := fmt.Sscan(out.String(), &got, &want); err != nil || serr != nil || got != want {
			t.Fatalf("Probe says available; the raw call in a child: %v, %q", err, out.String())
		}
		return
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(out.String(), "signal SIGSEGV") || !strings.Contains(out.String(), "code=0x80 ") {
		t.Fatalf("Probe says off; the raw call in a child: %v, want a SIGSEGV with code=0x80 (SI_KERNEL):\n%s", err, out.String())
	}
	// Probe recovered on a thread of its own: this process still works,
	// and a second probe says the same.
	if err := Probe(); !errors.Is(err, ErrOff) {
		t.Fatalf("second Probe: %v", err)
	}
}
