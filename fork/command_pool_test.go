package fork_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// TestCommandPool: each command gets a child of its own, with its stdio,
// environment (the options' Env on top) and working directory; a command
// that cannot start, or a directory that does not exist, is the caller's
// error, not a child retried; pools of functions and of commands take only
// their own kind.
func TestCommandPool(t *testing.T) {
	opts := sandbox.Default()
	opts.Env = []string{"FROM_OPTS=1"}
	pool, err := (&fork.Config{}).NewCommandPool(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	seen := map[int]bool{}
	for i := range 3 {
		r, w, _ := os.Pipe()
		p, err := pool.StartCommand(context.Background(), &fork.Command{
			Argv: []string{"/bin/sh", "-c", "echo \"$FROM_CALLER $FROM_OPTS $(pwd)\"; exit 5"},
			Env:  []string{"PATH=/usr/bin:/bin", "FROM_CALLER=c"}, Dir: "/etc", Stdout: w})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(r)
		r.Close()
		var ee *fork.ExitError
		if err := p.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 5 {
			t.Fatalf("Wait: %v, want exit 5", err)
		}
		if string(out) != "c 1 /etc\n" {
			t.Errorf("output %q", out)
		}
		if seen[p.Pid] {
			t.Fatalf("call %d: pid %d served twice", i, p.Pid)
		}
		seen[p.Pid] = true
	}
	for _, c := range []struct {
		cmd  fork.Command
		step string
		code int
	}{
		{fork.Command{Argv: []string{"/nonexistent"}}, "exec", fork.ExitNotFound},
		{fork.Command{Argv: []string{"/bin/true"}, Dir: "/nonexistent"}, "cwd", 0},
	} {
		p, err := pool.StartCommand(context.Background(), &c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		var se *fork.SetupError
		if err := p.Wait(); !errors.As(err, &se) || se.Step != c.step || (c.code != 0 && p.ProcessState.ExitCode() != c.code) {
			t.Errorf("%v: %v, want a setup error at step %s", c.cmd, err, c.step)
		}
	}
	if _, err := pool.Start(context.Background(), "add", 1, 2); err == nil || !strings.Contains(err.Error(), "pool of commands") {
		t.Errorf("a function on a pool of commands: %v", err)
	}
	fp, err := fork.NewPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	if _, err := fp.StartCommand(context.Background(), &fork.Command{Argv: []string{"true"}}); !errors.Is(err, fork.ErrArgs) {
		t.Errorf("a command on a pool of functions: %v", err)
	}
}

// TestCommandPoolIdleSignals: a pooled command child holds the signals its
// pid 1 forwards from before it goes idle; while it waits, those that end
// a process by default end it (and the pool replaces it), SIGWINCH does
// not; once its command runs, they are the command's.
func TestCommandPoolIdleSignals(t *testing.T) {
	pool, err := (&fork.Config{}).NewCommandPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	idle := func() int {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if pids := fork.PoolIdlePids(pool); len(pids) == 1 {
				return pids[0]
			}
			if time.Now().After(deadline) {
				t.Fatal("no idle child after 20 s")
			}
		}
	}
	gone := func(pid int) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if !alivePid(pid) {
				return true
			}
		}
		return false
	}
	pid := idle()
	time.Sleep(100 * time.Millisecond) // its registration runs beside the idle report
	syscall.Kill(pid, syscall.SIGWINCH)
	time.Sleep(200 * time.Millisecond)
	if !alivePid(pid) {
		t.Fatal("SIGWINCH ended an idle child")
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !gone(pid) {
		t.Fatal("SIGTERM did not end an idle child")
	}
	// Once the pool has seen the end (a command handed to a child as it
	// ends is lost, not handed on: TestCommandPoolSignalAtHandOver).
	for deadline := time.Now().Add(10 * time.Second); fork.PoolReadyEnded(pool) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pool did not see its idle child end")
		}
	}

	// The pool replaces it, and the replacement runs a command that
	// reports SIGTERM: the signal, sent to pid 1, is the command's.
	r, w, _ := os.Pipe()
	p, err := pool.StartCommand(context.Background(), &fork.Command{
		Argv: []string{"/bin/sh", "-c", "trap 'echo term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"},
		Env:  []string{"PATH=/usr/bin:/bin"}, Stdout: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("command output %q, %v", buf, err)
	}
	if p.Pid == pid {
		t.Fatal("the child that SIGTERM ended was handed a command")
	}
	p.Signal(syscall.SIGTERM)
	out, _ := io.ReadAll(r)
	var ee *fork.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 || string(out) != "term\n" {
		t.Fatalf("Wait: %v, output %q; want exit 7 after the command's trap", err, out)
	}
}
