package integration

import (
	"regexp"
	"strings"
	"testing"
)

// TestCLICgroupLimits: --memory/--pids/--cpus put the command in a cgroup
// of its own with those limits (root: the rootless suite has no delegation).
func TestCLICgroupLimits(t *testing.T) {
	onlyRoot(t)
	out := mustRun(t, "--memory", "64m", "--pids", "50", "--cpus", "0.5", "--", "/bin/sh", "-c", "cat /proc/self/cgroup")
	if !regexp.MustCompile(`(?m)^\d+:(memory|pids|0:):.*nsfork-`).MatchString(out) {
		t.Errorf("not in an nsfork cgroup: %q", out)
	}
	// The sandbox's pid 1 (sandboxrun's own Go runtime, several threads)
	// counts too; 40 sleeps do not fit in 16 either way.
	r := sbx(t, "", "--pids", "16", "--", "/bin/sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; wait")
	if !strings.Contains(r.err, "fork") && !strings.Contains(r.err, "Resource temporarily unavailable") {
		t.Errorf("--pids 16: a shell starting 40 children was not stopped: exit %d stderr %q", r.code, r.err)
	}
}
