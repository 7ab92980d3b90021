package fork

import (
	"os/exec"
	"strings"
	"testing"
)

// exitOf runs a shell script and returns how it ended, as Wait sees it.
func exitOf(t *testing.T, script string) *ExitError {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := cmd.Run(); err == nil {
		t.Fatalf("%q succeeded", script)
	}
	return &ExitError{ProcessState: cmd.ProcessState}
}

// TestOOMKilledRule: an OOM kill counted in the cgroup makes a SIGKILL an
// OOM kill in both modes, and exit status 137 one in command mode only
// (the pid-1 launcher's report of its command's SIGKILL); nothing else is.
func TestOOMKilledRule(t *testing.T) {
	killed := exitOf(t, "kill -9 $$")
	exit137 := exitOf(t, "exit 137")
	exit1 := exitOf(t, "exit 1")
	term := exitOf(t, "kill -TERM $$")
	for _, c := range []struct {
		name    string
		command bool
		oom     bool
		ee      *ExitError
		want    bool
	}{
		{"function SIGKILL, OOM", false, true, killed, true},
		{"function SIGKILL, no OOM", false, false, killed, false},
		{"function exit 137, OOM", false, true, exit137, false},
		{"command SIGKILL, OOM", true, true, killed, true},
		{"command exit 137, OOM", true, true, exit137, true},
		{"command exit 137, no OOM", true, false, exit137, false},
		{"command exit 1, OOM", true, true, exit1, false},
		{"command SIGTERM, OOM", true, true, term, false},
	} {
		p := &Process{command: c.command, usage: &Usage{OOMKilled: c.oom}}
		if got := p.oomKilled(c.ee); got != c.want {
			t.Errorf("%s (%v): oomKilled %v, want %v", c.name, c.ee.ProcessState, got, c.want)
		}
	}
	if (&Process{command: true}).oomKilled(killed) {
		t.Errorf("no usage (no cgroup): oomKilled true")
	}
}

func TestOOMErrorText(t *testing.T) {
	for _, c := range []struct {
		u    Usage
		want string
	}{
		{Usage{MemoryLimit: 32 << 20, MemoryPeak: 32 << 20}, "fork: killed by the OOM killer: memory limit 32 MiB reached (peak 32 MiB)"},
		{Usage{MemoryLimit: 1 << 30, MemoryPeak: 1<<30 - 1<<19}, "fork: killed by the OOM killer: memory limit 1024 MiB reached (peak 1023.5 MiB)"},
		{Usage{MemoryPeak: 3 << 20}, "fork: killed by the OOM killer (memory peak 3 MiB)"},
	} {
		e := &OOMError{ExitError: &ExitError{}, Usage: c.u}
		if got := e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.u, got, c.want)
		}
		if strings.Contains(e.Error(), "\n") {
			t.Errorf("multi-line message %q", e.Error())
		}
	}
	ee := &ExitError{}
	if (&OOMError{ExitError: ee}).Unwrap() != ee {
		t.Errorf("OOMError does not unwrap to its ExitError")
	}
}
