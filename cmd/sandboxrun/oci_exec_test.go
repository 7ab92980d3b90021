package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The exec'd process never has more privilege than the container's.
func TestExecProcessPrivilege(t *testing.T) {
	base := &specs.Process{
		Args: []string{"sleep", "100"}, Env: []string{"PATH=/bin"}, Cwd: "/", NoNewPrivileges: true,
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"}},
		Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
	}
	// Flags: the container's settings, the command and the extra env.
	p, err := execProcess(base, &execFlags{env: []string{"A=1"}, user: "5:6"}, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Args[0] != "id" || !p.NoNewPrivileges || p.User.UID != 5 || p.User.GID != 6 ||
		strings.Join(p.Env, ",") != "PATH=/bin,A=1" || len(p.Capabilities.Bounding) != 1 || len(p.Rlimits) != 1 {
		t.Fatalf("exec process from flags: %+v", p)
	}
	write := func(p specs.Process) string {
		b, _ := json.Marshal(p)
		f := filepath.Join(t.TempDir(), "process.json")
		os.WriteFile(f, b, 0o644)
		return f
	}
	// process.json: its own settings, but no_new_privs stays on.
	p, err = execProcess(base, &execFlags{process: write(specs.Process{Args: []string{"true"}, Cwd: "/tmp"})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.NoNewPrivileges || p.Cwd != "/tmp" || p.Capabilities == nil || p.Capabilities.Bounding[0] != "CAP_KILL" {
		t.Fatalf("exec process from process.json: %+v", p)
	}
	for name, c := range map[string]struct {
		f    execFlags
		argv []string
		want string
	}{
		"more caps":   {f: execFlags{process: write(specs.Process{Args: []string{"true"}, Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_SYS_ADMIN"}}})}, want: "CAP_SYS_ADMIN is not in the container's"},
		"higher hard": {f: execFlags{process: write(specs.Process{Args: []string{"true"}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 1}}})}, want: "above the container's"},
		"--cap":       {f: execFlags{caps: []string{"CAP_SYS_ADMIN"}}, argv: []string{"true"}, want: "--cap: not supported"},
		"no command":  {want: "no command"},
		"both":        {f: execFlags{process: write(specs.Process{Args: []string{"true"}})}, argv: []string{"id"}, want: "give one of the two"},
		"bad user":    {f: execFlags{user: "root"}, argv: []string{"id"}, want: "numeric"},
	} {
		if _, err := execProcess(base, &c.f, c.argv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}
