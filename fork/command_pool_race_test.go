package fork_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// A terminating signal sent to an idle pooled command child as its command
// is handed over: the command got the signal, or the child ended before
// its command ran (a pool of commands never hands a command on: it may
// have started; Wait says the child ended before running it, exit 143
// from the idle child's handler or 2 from the Go runtime's default action
// before that handler is registered). The launch neither fails nor hangs,
// and the replacement never gets the signal.
func TestCommandPoolSignalAtHandOver(t *testing.T) {
	pool, err := (&fork.Config{}).NewCommandPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i := 0; i < 12; i++ {
		var pid int
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if pids := fork.PoolIdlePids(pool); len(pids) == 1 {
				pid = pids[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no idle child after 20 s")
			}
		}
		time.Sleep(time.Duration(i%4) * 30 * time.Millisecond) // before and after its registration
		go func() {
			time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
			syscall.Kill(pid, syscall.SIGTERM)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := pool.StartCommand(ctx, &fork.Command{Argv: []string{"/bin/sh", "-c", "sleep 0.2"}, Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			cancel()
			t.Fatalf("round %d: StartCommand: %v", i, err)
		}
		werr := p.Wait()
		cancel()
		var ee *fork.ExitError
		t.Logf("round %d: idle %d, served by %d: %v", i, pid, p.Pid, werr)
		switch {
		case werr == nil:
		case errors.As(werr, &ee) && (ee.ExitCode() == 143 || strings.Contains(werr.Error(), "ended before running")):
			if p.Pid != pid {
				t.Errorf("round %d: the replacement %d got the SIGTERM sent to %d", i, p.Pid, pid)
			}
		default:
			t.Errorf("round %d: Wait: %v", i, werr)
		}
	}
}
