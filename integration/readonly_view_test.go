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

// hiddenCwd makes, under the host's /tmp (private in every sandbox), a
// tree base/a/b with files base/top, base/a/sibling and base/a/b/mine
// (b mode 01777, for --rw . as a leased uid), removed when t ends; it
// returns base.
func hiddenCwd(t *testing.T) string {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "nsfork-cwd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, d := range []string{"a/b"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"top", "a/sibling", "a/b/mine"} {
		if err := os.WriteFile(filepath.Join(base, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{base, base + "/a"} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base+"/a/b", 0o1777); err != nil {
		t.Fatal(err)
	}
	return base
}

// cwdProbe lists what a sandbox reaches from its working directory: the
// directory, its parent and grandparent by "..", the same through
// /proc/self/cwd, and whether it may write there.
const cwdProbe = `pwd; ls; echo =; ls ..; echo =; ls ../..; echo =; ls /proc/self/cwd/..; echo =; touch w 2>&1 | sed 's/.*: //'`

// TestDefaultViewWorkingDirectory: the caller's working directory under a
// path the view makes private (/tmp) is the sandbox's, read-only, and
// nothing above it of the host's comes with it: ".." is the sandbox's own
// /tmp (before, the host's directories between it and /tmp were
// reachable). With --rw . it is writable (before, the command was left in
// the read-only directory beneath the writable bind). From /tmp itself
// the sandbox is in its own /tmp.
func TestDefaultViewWorkingDirectory(t *testing.T) {
	base := hiddenCwd(t)
	cwd := base + "/a/b"
	t.Chdir(cwd)
	r := sbx(t, "", "--", "/bin/sh", "-c", cwdProbe)
	want := cwd + "\nmine\n=\nb\n=\na\n=\nb\n=\nRead-only file system\n"
	if r.code != 0 || r.out != want {
		t.Errorf("from %s: exit %d, stdout %q, stderr %q; want stdout %q", cwd, r.code, r.out, r.err, want)
	}
	r = sbx(t, "", "--rw", ".", "--", "/bin/sh", "-c", "touch w && pwd")
	if _, err := os.Stat(cwd + "/w"); r.code != 0 || r.out != cwd+"\n" || err != nil {
		t.Errorf("--rw . from %s: exit %d, stdout %q, stderr %q, %s/w: %v", cwd, r.code, r.out, r.err, cwd, err)
	}
	t.Chdir("/tmp")
	if r := sbx(t, "", "--", "/bin/sh", "-c", "pwd; ls -A | head -n 3"); r.code != 0 || r.out != "/tmp\n" {
		t.Errorf("from /tmp: exit %d, stdout %q, stderr %q; want the sandbox's own empty /tmp", r.code, r.out, r.err)
	}
}
