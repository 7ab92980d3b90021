package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

const oomHogEnv = "NSFORK_OOM_HOG_MIB"

// TestOOMHelper is the command of TestOOMBothModes: this test binary,
// exec'ed in the sandbox, touching $NSFORK_OOM_HOG_MIB MiB.
func TestOOMHelper(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(oomHogEnv))
	if err != nil {
		t.Skip("helper process for TestOOMBothModes")
	}
	fmt.Println("touched", hog(n), "MiB")
}

// TestOOMBothModes: a child that the OOM killer kills at its cgroup's
// memory limit makes Wait return *fork.OOMError, with the limit and the
// peak, whether it is a function, a command under the pid-1 launcher
// (which exits 137 for it) or a command exec'ed directly (no pid
// namespace); a command that stays under the limit, or dies of a SIGKILL
// that is not the OOM killer's, does not.
func TestOOMBothModes(t *testing.T) {
	if !cgroupLimitsAvailable(t) {
		return
	}
	const limit = 32 << 20
	opts := func(hogMiB int, pidns bool) *sandbox.Options {
		o := limited(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(limit)), Swap: ptr(int64(limit))}})
		o.Env = append(o.Env, oomHogEnv+"="+strconv.Itoa(hogMiB))
		if !pidns {
			o.WithoutNamespaces(specs.PIDNamespace)
		}
		return o
	}
	// The launcher execs its own binary, this test binary, through
	// /proc/self/exe: wherever the sandbox's view puts the file.
	helper := append([]string{"/proc/self/exe"}, helperTest("TestOOMHelper")...)
	var out strings.Builder // the commands' output
	command := func(o *sandbox.Options, argv ...string) (*fork.Process, error) {
		out.Reset()
		return (&fork.Config{Stdout: &out, Stderr: &out}).StartCommand(context.Background(), o, argv...)
	}
	type start func() (*fork.Process, error)
	for _, c := range []struct {
		name     string
		start    start
		exit137  bool // the launcher's exit status, not a signal
		wantsOOM bool
	}{
		{"function", func() (*fork.Process, error) {
			return new(fork.Config).Start(context.Background(), "hog", opts(0, true), 128)
		}, false, true},
		{"command under pid 1", func() (*fork.Process, error) { return command(opts(128, true), helper...) }, true, true},
		{"command exec'ed directly", func() (*fork.Process, error) { return command(opts(128, false), helper...) }, false, true},
		{"command under the limit", func() (*fork.Process, error) { return command(opts(4, true), helper...) }, false, false},
		{"command SIGKILLed, no OOM", func() (*fork.Process, error) {
			return command(opts(0, true), "/bin/sh", "-c", "kill -9 $$")
		}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.start()
			if err != nil {
				t.Fatal(err)
			}
			err = p.Wait()
			var oom *fork.OOMError
			if !c.wantsOOM {
				if errors.As(err, &oom) {
					t.Fatalf("Wait: %v, an *OOMError without an OOM kill (usage %+v)", err, p.Usage())
				}
				if c.name == "command under the limit" && (err != nil || !strings.Contains(out.String(), "touched 4 MiB")) {
					t.Fatalf("Wait: %v; output %q", err, out.String())
				}
				var ee *fork.ExitError
				if c.exit137 && (!errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGKILL)) {
					t.Fatalf("Wait: %v, want a plain *fork.ExitError with status 137", err)
				}
				return
			}
			if !errors.As(err, &oom) {
				t.Fatalf("Wait: %v (%T), want *fork.OOMError (usage %+v)", err, err, p.Usage())
			}
			if c.exit137 {
				if oom.ExitCode() != 128+int(syscall.SIGKILL) || oom.Signal() != 0 {
					t.Errorf("launcher status %v, want exit status 137", oom.ProcessState)
				}
			} else if oom.Signal() != syscall.SIGKILL {
				t.Errorf("child status %v, want killed by SIGKILL", oom.ProcessState)
			}
			u := oom.Usage
			if !u.OOMKilled || u.MemoryLimit != limit || u.MemoryPeak < limit/2 || u.MemoryPeak > 2*limit {
				t.Errorf("usage %+v: want OOMKilled, MemoryLimit %d and a peak near it", u, limit)
			}
			if pu := p.Usage(); pu == nil || *pu != u {
				t.Errorf("Process.Usage %+v, OOMError.Usage %+v", pu, u)
			}
			want := fmt.Sprintf("killed by the OOM killer: memory limit %d MiB reached (peak ", limit>>20)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err.Error(), want)
			}
		})
	}
}
