package integration

import (
	"bytes"
	"context"
	"os/exec"
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
