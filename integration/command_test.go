package integration

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func startCommand(t *testing.T, opts *sandbox.Options, argv ...string) error {
	_, err := startCommandP(t, opts, argv...)
	return err
}

func startCommandP(t *testing.T, opts *sandbox.Options, argv ...string) (*fork.Process, error) {
	t.Helper()
	p, err := (&fork.Config{}).StartCommand(context.Background(), opts, argv...)
	if err != nil {
		t.Fatalf("StartCommand(%v): %v", argv, err)
	}
	return p, p.Wait()
}

func TestCommandExitCodes(t *testing.T) {
	for _, opts := range []*sandbox.Options{nil, sandbox.Default()} {
		if err := startCommand(t, opts, "/bin/sh", "-c", "exit 0"); err != nil {
			t.Errorf("exit 0: %v", err)
		}
		err := startCommand(t, opts, "/bin/sh", "-c", "exit 42")
		var ee *fork.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 42 {
			t.Errorf("exit 42: %v", err)
		}
		p, err := startCommandP(t, opts, "no-such-command-nsfork")
		var se *fork.SetupError
		if !errors.As(err, &se) || se.Step != "exec" || p.ProcessState.ExitCode() != fork.ExitNotFound {
			t.Errorf("not found: %v, exit %d", err, p.ProcessState.ExitCode())
		}
		p, err = startCommandP(t, opts, "/etc/passwd")
		if !errors.As(err, &se) || se.Step != "exec" || p.ProcessState.ExitCode() != fork.ExitNotExecutable {
			t.Errorf("not executable: %v, exit %d", err, p.ProcessState.ExitCode())
		}
	}
}

// TestCommandPid1ForwardsSignals: as pid 1 the launcher forwards SIGTERM
// to the command, whose trap runs.
func TestCommandPid1ForwardsSignals(t *testing.T) {
	r, w, _ := os.Pipe()
	c := &fork.Config{Stdout: w}
	p, err := c.StartCommand(context.Background(), sandbox.Default(), "/bin/sh", "-c", `trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(r)
	if l, _ := br.ReadString('\n'); l != "ready\n" {
		t.Fatalf("got %q", l)
	}
	p.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("SIGTERM did not reach the command")
	}
	var ee *fork.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v", err)
	}
	if l, _ := br.ReadString('\n'); l != "got-term\n" {
		t.Fatalf("trap output %q", l)
	}
}

// TestOnAppliedGate: the parent sees the applied settings before the
// command starts, and refusing them stops the command from ever running.
func TestOnAppliedGate(t *testing.T) {
	dir := sharedDir(t)
	marker := dir + "/ran"
	var seen *sandbox.Applied
	c := &fork.Config{OnApplied: func(p *fork.Process, applied *sandbox.Applied) error {
		seen = applied
		return errors.New("not what I asked for")
	}}
	p, err := c.StartCommand(context.Background(), sandbox.Default().WithBinds(dir), "/bin/sh", "-c", "touch "+marker)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var se *fork.SetupError
	if !errors.As(err, &se) || se.Step != "refused" || !strings.Contains(err.Error(), "not what I asked for") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran although its settings were refused")
	}
	if seen == nil || seen.Namespaces["mnt"] == "" {
		t.Fatalf("applied report %+v", seen)
	}
	c.OnApplied = func(*fork.Process, *sandbox.Applied) error { return nil }
	p, err = c.StartCommand(context.Background(), sandbox.Default().WithBinds(dir), "/bin/sh", "-c", "touch "+marker)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("accepted settings, but the command did not run")
	}
}
