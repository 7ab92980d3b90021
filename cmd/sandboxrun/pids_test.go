package main

import (
	"strings"
	"testing"

	"github.com/nsfork/nsfork/sandbox"
)

// TestPidsFlag: the presets' RLIMIT_NPROC is the default limit on
// processes; --pids N replaces it (and asks for a pids cgroup), --pids
// unlimited removes it, anything else is refused.
func TestPidsFlag(t *testing.T) {
	nproc := func(pl *plan) (uint64, bool) {
		for _, r := range pl.opts.Rlimits {
			if r.Type == "RLIMIT_NPROC" {
				return r.Hard, true
			}
		}
		return 0, false
	}
	pl, err := buildArgs(t)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := nproc(pl); !ok || n != sandbox.DefaultPids || pl.opts.Resources != nil {
		t.Errorf("defaults: RLIMIT_NPROC %d (%v), resources %+v; want %d and no cgroup", n, ok, pl.opts.Resources, sandbox.DefaultPids)
	}
	pl, err = buildArgs(t, "--pids", "100")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := nproc(pl); n != 100 || pl.opts.Resources == nil || pl.opts.Resources.Pids == nil || *pl.opts.Resources.Pids.Limit != 100 {
		t.Errorf("--pids 100: RLIMIT_NPROC %d, resources %+v", n, pl.opts.Resources)
	}
	pl, err = buildArgs(t, "--pids", "unlimited")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nproc(pl); ok || pl.opts.Resources != nil {
		t.Errorf("--pids unlimited: RLIMIT_NPROC still set or a cgroup asked for: %+v", pl.opts)
	}
	for _, bad := range []string{"0", "-3", "lots"} {
		if _, err := buildArgs(t, "--pids", bad); err == nil || !strings.Contains(err.Error(), "--pids") {
			t.Errorf("--pids %s: %v", bad, err)
		}
	}
}
