package main

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/nsfork/nsfork/fork"
)

func exitOf(t *testing.T, script string) *fork.ExitError {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := cmd.Run(); err == nil {
		t.Fatalf("%q succeeded", script)
	}
	return &fork.ExitError{ProcessState: cmd.ProcessState}
}

// TestOOMLine: an *OOMError exits 137 whether the command was killed
// itself or its pid-1 launcher exited 137 for it, and prints one line;
// the same statuses without the OOM kill print nothing.
func TestOOMLine(t *testing.T) {
	u := fork.Usage{OOMKilled: true, MemoryLimit: 32 << 20, MemoryPeak: 32 << 20}
	for _, ee := range []*fork.ExitError{exitOf(t, "kill -9 $$"), exitOf(t, "exit 137")} {
		code, msg := outcome(&fork.OOMError{ExitError: ee, Usage: u}, ee.ProcessState)
		var w bytes.Buffer
		printErr(&w, msg)
		const want = "sandboxrun: killed by the OOM killer: memory limit 32 MiB reached (peak 32 MiB)\n"
		if code != 137 || w.String() != want {
			t.Errorf("%v: exit %d, printed %q; want 137 and %q", ee.ProcessState, code, w.String(), want)
		}
		if code, msg := outcome(ee, ee.ProcessState); code != 137 || msg != "" {
			t.Errorf("%v without an OOM kill: exit %d, %q; want 137 and nothing", ee.ProcessState, code, msg)
		}
	}
}
