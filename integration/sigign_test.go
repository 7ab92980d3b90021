package integration

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestWarmIgnoredSignals: a caller that ignores forwarded signals (a
// background job of a script ignores SIGINT and SIGQUIT, nohup SIGHUP)
// launches warm like any other. sandboxrun's registration of the forwarded
// signals takes them over, which changes its SigIgn (part of the caller's
// context, which the pool checks again when the command comes); its
// context was read while that registration ran beside it, and one launch
// in three failed with "the caller's context differs from this pool's:
// SigIgn" (exit 125; red team).
func TestWarmIgnoredSignals(t *testing.T) {
	t.Chdir(tempDir(t))
	h := newWarmHome(t)
	bin := sandboxrunBin(t)
	for i := 0; i < 12; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		// trap '' makes the shell ignore them; exec keeps that.
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `trap '' INT QUIT HUP; exec "$0" "$@"`, bin, "--warm", "--", "true")
		cmd.Env = h.env
		var e bytes.Buffer
		cmd.Stderr = &e
		code := exitOf(t, cmd.Args, cmd.Run(), ctx)
		cancel()
		if code != 0 {
			t.Fatalf("launch %d with INT, QUIT and HUP ignored: exit %d, stderr %q", i, code, e.String())
		}
	}
}

// TestIgnoredSignalNotForwarded: a signal sandboxrun was started with
// ignored (nohup: SIGHUP) is not passed on to the command, as it would not
// reach the command run directly. sandboxrun took it over and passed it
// on: `nohup sandboxrun -- job`, then SIGHUP, ended the job with 129 (red
// team).
func TestIgnoredSignalNotForwarded(t *testing.T) {
	t.Chdir(tempDir(t))
	bin := sandboxrunBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `trap '' HUP; exec "$0" "$@"`, bin, "--",
		"/bin/sh", "-c", "echo ready; sleep 1; echo alive")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("command output %q, %v (stderr %q)", buf, err, e.String())
	}
	cmd.Process.Signal(syscall.SIGHUP) // the shell exec'ed sandboxrun: its pid
	rest, _ := io.ReadAll(out)
	code := exitOf(t, cmd.Args, cmd.Wait(), ctx)
	if code != 0 || string(rest) != "alive\n" {
		t.Fatalf("SIGHUP to sandboxrun started with it ignored: exit %d, output %q, stderr %q", code, rest, e.String())
	}
}
