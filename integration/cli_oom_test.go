package integration

import (
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/cgroups"
)

// TestCLIOOM: a command the OOM killer kills at --memory exits 137 and
// sandboxrun says so in one line, with and without a new pid namespace
// (under sandboxrun's pid-1 launcher, or exec'ed directly). Rootless
// without a delegated cgroup, --memory is refused with the way to get one.
func TestCLIOOM(t *testing.T) {
	// This test binary (a copy root's sandbox may execute), as
	// sandboxrun's command, touching 128 MiB.
	exe := victimCopy(t, "oom-hog")
	hog := append([]string{"--env", oomHogEnv + "=128", "--", exe}, helperTest("TestOOMHelper")...)
	if !root() && !cgroups.Probe().Delegated {
		r := sbx(t, "", append([]string{"--memory", "32M"}, hog...)...)
		if r.code != 125 || !strings.Contains(r.err, "Delegate=yes") {
			t.Fatalf("rootless --memory without delegation: exit %d, stderr %q; want 125 and how to delegate", r.code, r.err)
		}
		return
	}
	const want = "sandboxrun: killed by the OOM killer: memory limit 32 MiB reached (peak "
	for _, mode := range [][]string{nil, {"--share", "pid"}} {
		args := append(append(append([]string{}, mode...), "--memory", "32M"), hog...)
		r := sbx(t, "", args...)
		lines := strings.Split(strings.TrimSpace(r.err), "\n")
		if r.code != 137 || len(lines) != 1 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], " MiB)") {
			t.Errorf("%v: exit %d, stderr %q; want 137 and one line %q...", mode, r.code, r.err, want)
		}
	}
	// A command that exits 137 itself is not reported as an OOM kill.
	r := sbx(t, "", "--memory", "32M", "--", "/bin/sh", "-c", "exit 137")
	if r.code != 137 || r.err != "" {
		t.Errorf("exit 137 without an OOM kill: exit %d, stderr %q; want 137 and nothing said", r.code, r.err)
	}
}
