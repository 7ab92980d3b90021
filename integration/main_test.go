// Package integration holds the tests that need real namespaces. CI runs
// them twice: as root, and as an unprivileged user (uid 65534 through
// setpriv), both with NSFORK_REQUIRE_ALL=1 so that nothing silently skips.
package integration

import (
	"encoding/gob"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/testreq"
)

func TestMain(m *testing.M) {
	fork.Init()
	os.Exit(m.Run())
}

// require skips t (or fails it under NSFORK_REQUIRE_ALL=1) when ok is false.
func require(t *testing.T, ok bool, why string) {
	t.Helper()
	testreq.Need(t, ok, "%s", why)
}

func root() bool { return os.Geteuid() == 0 }

// onlyRoot / onlyRootless mark tests that are about one mode: they are not
// skips for a missing prerequisite, the other mode has its own test.
func onlyRoot(t *testing.T) {
	t.Helper()
	if !root() {
		t.Skip("root-mode test; the rootless suite has its own")
	}
}

func onlyRootless(t *testing.T) {
	t.Helper()
	if root() {
		t.Skip("rootless-mode test; the root suite has its own")
	}
}

// statusFields reads the named fields of a /proc/.../status file.
func statusFields(path string, names ...string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if k == n {
				out[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return out, nil
}

func gobRegisterSignals() { gob.Register(syscall.SIGTERM) }
