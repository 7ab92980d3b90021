package fork_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// A signal sent to a command's sandbox right after StartCommand returns
// (sandboxrun passes on at that moment what arrived while it planned)
// reaches the command: here, sleep ends from SIGTERM and pid 1 exits
// 128+15. Sent at once (red team), it found the child's pid 1 coming up
// from its exec with default dispositions, which the kernel ignores for a
// pid namespace's init (lost: the command ran to its end, 8 times in 8),
// or with the Go runtime's handler but not yet its registration (the
// runtime's default action cannot end a pid 1: it exited 2 before the
// command, "the child ended before running the function"). Signal now
// holds it until the command started.
func TestCommandSignalDuringSetupReachesCommand(t *testing.T) {
	opts := sandbox.Default()
	if os.Geteuid() != 0 {
		opts = sandbox.Rootless()
	}
	outcomes := map[string]int{}
	for i := 0; i < 8; i++ {
		p, err := (&fork.Config{}).StartCommand(context.Background(), opts, "/bin/sleep", "2")
		if err != nil {
			t.Fatal(err)
		}
		p.Signal(syscall.SIGTERM)
		err = p.Wait()
		var ee *fork.ExitError
		switch {
		case errors.As(err, &ee) && ee.ExitCode() == 128+int(syscall.SIGTERM):
			outcomes["the command got it"]++
		case err == nil:
			outcomes["lost: the command ran to its end"]++
		default:
			outcomes["pid 1 ended: "+err.Error()]++
		}
	}
	if len(outcomes) != 1 || outcomes["the command got it"] != 8 {
		t.Errorf("SIGTERM right after StartCommand, 8 times: %v", outcomes)
	}
}
