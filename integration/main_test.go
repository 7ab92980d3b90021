// Package integration holds the tests that need real namespaces. CI runs
// them twice: as root, and as an unprivileged user (uid 65534 through
// setpriv), both with NSFORK_REQUIRE_ALL=1 so that nothing silently skips.
package integration

import (
	"encoding/gob"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/testreq"
)

func TestMain(m *testing.M) {
	fork.Init()
	useVisibleTmp()
	code := m.Run()
	for i := len(atExitFuncs) - 1; i >= 0; i-- {
		atExitFuncs[i]()
	}
	os.Exit(code)
}

var (
	atExitMu    sync.Mutex
	atExitFuncs []func()
)

// atExit runs f once every test of the binary has run: the end of a
// fixture several top-level tests share (the sandboxrun build, the HPC
// and --share-ns scratch directories).
func atExit(f func()) {
	atExitMu.Lock()
	defer atExitMu.Unlock()
	atExitFuncs = append(atExitFuncs, f)
}

// DefaultTestTmp is where the tests keep their temporary files unless
// NSFORK_TEST_TMPDIR names another place: outside /tmp, /var/tmp and /run,
// which the default view of the host replaces with private tmpfs, so that a
// sandbox with the defaults sees them (read-only: a test that lets the
// sandbox write grants the directory, with --rw or Options.WithBinds). The
// name is short: unix socket paths below it must stay under 108 bytes.
// scripts/check.sh makes it (mode 01777) and removes it.
const DefaultTestTmp = "/var/lib/nsfork-t"

// useVisibleTmp points TMPDIR (and so t.TempDir) at NSFORK_TEST_TMPDIR,
// making that (01777) when root may. Where it cannot be had, TMPDIR stays
// as it is and the tests that need to see their files from a sandbox fail,
// naming the path.
func useVisibleTmp() {
	base := os.Getenv("NSFORK_TEST_TMPDIR")
	if base == "" {
		base = DefaultTestTmp
	}
	if root() {
		if err := os.MkdirAll(base, 0o755); err == nil {
			os.Chmod(base, 0o1777)
		}
	}
	if unix.Access(base, unix.W_OK|unix.X_OK) == nil {
		os.Setenv("TMPDIR", base)
	}
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

// tempDir is t.TempDir opened to everyone for reading (0755, its parent
// too): a root caller's sandboxes run as unprivileged host ids, which
// cannot enter t.TempDir's 0700 directory.
func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// sharedDir is a tempDir that the sandbox may write too once it is granted
// (Options.WithBinds, --rw): mode 01777, as /tmp, for root's sandboxes that
// run as unprivileged host ids. For tests that look from outside at what
// the sandbox wrote.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := tempDir(t)
	if err := os.Chmod(d, 0o1777); err != nil {
		t.Fatal(err)
	}
	return d
}

// hostRootFlag is the --host-root setting of the tests that run real MPI
// jobs with a sandbox per rank: as root, mpirun's and PMIx's session
// directories are root's own, so the ranks need root's identity (trusted
// code only); rootless it is the default, false.
func hostRootFlag() string { return "--host-root=" + strconv.FormatBool(root()) }
