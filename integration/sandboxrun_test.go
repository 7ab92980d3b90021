package integration

// One build of sandboxrun per test binary, for every test that runs it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	sbxOnce sync.Once
	sbxBin  string
	sbxErr  error
)

// sharedSandboxrun returns the path of a sandboxrun built from this tree,
// once per test binary, or $NSFORK_SANDBOXRUN when set. The directory is
// world-readable so that the same binary serves the root and the rootless
// suite.
func sharedSandboxrun() (string, error) {
	sbxOnce.Do(func() {
		if p := os.Getenv("NSFORK_SANDBOXRUN"); p != "" {
			sbxBin = p
			return
		}
		sbxBin, sbxErr = buildSandboxrun()
	})
	return sbxBin, sbxErr
}

// sandboxrunBin is sharedSandboxrun for a test: one that cannot have it
// fails (NSFORK_REQUIRE_ALL) or skips, saying why.
func sandboxrunBin(t *testing.T) string {
	t.Helper()
	bin, err := sharedSandboxrun()
	if err != nil {
		require(t, false, "cannot build sandboxrun: "+err.Error())
	}
	return bin
}

// sandboxrunIn puts a copy of the shared build at dir/sandboxrun, for
// tests whose sandboxrun must live in a directory of their own (and go
// with it), and returns its path; with $NSFORK_SANDBOXRUN set, it returns
// that binary.
func sandboxrunIn(dir string) (string, error) {
	bin, err := sharedSandboxrun()
	if err != nil || os.Getenv("NSFORK_SANDBOXRUN") != "" {
		return bin, err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "sandboxrun")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// buildSandboxrun builds sandboxrun into a new world-readable directory,
// with env added to the build's environment (CGO_ENABLED=0: a static one).
func buildSandboxrun(env ...string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	modRoot := filepath.Dir(filepath.Dir(file))
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	dir, err := os.MkdirTemp("", "nsfork-cli-")
	if err != nil {
		return "", err
	}
	atExit(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sandboxrun")
	cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", bin, "./cmd/sandboxrun")
	cmd.Dir = modRoot
	cmd.Env = append(os.Environ(), env...)
	// The rootless suite runs with a HOME it cannot write and cannot read
	// root's module cache: give go a private cache (which downloads the
	// modules; set NSFORK_SANDBOXRUN to a prebuilt binary to avoid that).
	if out, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
		if _, err := os.ReadDir(strings.TrimSpace(string(out))); err != nil {
			cmd.Env = append(cmd.Env, "GOMODCACHE="+filepath.Join(dir, "mod"), "GOFLAGS=-modcacherw")
		}
	}
	if out, err := exec.Command(goBin, "env", "GOCACHE").Output(); err == nil {
		if err := os.MkdirAll(strings.TrimSpace(string(out)), 0o755); err != nil {
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(dir, "cache"))
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sandboxrun: %v: %s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return "", err
	}
	return bin, nil
}
