package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDefaultViewReadOnly: under sandboxrun's defaults, from a scratch
// working directory, creating a file in a directory the caller can write
// on the host fails with EROFS: the caller's home (or another directory of
// its) rootless, /etc as root.
// With --rw the same directory is writable, so the refusal is the view's.
func TestDefaultViewReadOnly(t *testing.T) {
	dir := os.Getenv("HOME")
	if root() {
		dir = "/etc"
	} else if dir == "" || unix.Access(dir, unix.W_OK) != nil {
		dir = sharedDir(t) // a home the caller cannot write proves nothing
	}
	require(t, dir != "" && unix.Access(dir, unix.W_OK) == nil, "a directory the caller can write on the host ($HOME rootless, /etc as root): "+dir)
	probe := filepath.Join(dir, "nsfork-ro-probe")
	t.Cleanup(func() { os.Remove(probe) })
	scratch := tempDir(t)
	r := sbx(t, "", "--chdir", scratch, "--", "/bin/sh", "-c", "touch "+probe)
	if r.code == 0 || !strings.Contains(r.err, "Read-only file system") {
		t.Errorf("touch %s under the defaults: exit %d, stderr %q; want EROFS", probe, r.code, r.err)
	}
	if _, err := os.Stat(probe); err == nil {
		t.Fatalf("%s was created on the host", probe)
	}
	if root() {
		return // granting /etc to a leased uid gives EACCES, not a write
	}
	if r := sbx(t, "", "--rw", dir, "--", "/bin/sh", "-c", "touch "+probe); r.code != 0 {
		t.Errorf("touch %s with --rw %s: exit %d, stderr %q", probe, dir, r.code, r.err)
	}
}
