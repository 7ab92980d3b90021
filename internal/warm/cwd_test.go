package warm

import (
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// TestCwdKeyed: a pool is its caller's working directory's where the
// sandbox keeps the caller's directory and a mount of the view is at that
// directory or above it, or the sandbox's ids may not be able to search
// it.
func TestCwdKeyed(t *testing.T) {
	def := sandbox.Default()
	rootfs := sandbox.Default()
	rootfs.Root = &specs.Root{Path: "/srv/rootfs"}
	chdir := sandbox.Default()
	chdir.Cwd = "/work"
	prefix := sandbox.Default()
	prefix.Mounts = append(prefix.Mounts, sandbox.TmpfsMount("/usr/bi"))
	// A directory searched by its owner alone, outside the view's private
	// directories (the tests' NSFORK_TEST_TMPDIR).
	base := os.Getenv("NSFORK_TEST_TMPDIR")
	if base == "" {
		base = "/var/lib/nsfork-t"
	}
	testreq.Need(t, unix.Access(base, unix.W_OK|unix.X_OK) == nil, "a writable NSFORK_TEST_TMPDIR (%s)", base)
	hidden, err := os.MkdirTemp(base, "cwd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(hidden)
	if err := os.Chmod(hidden, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    *sandbox.Options
		wd   string
		want bool
	}{
		{def, "/tmp/x/y", true},
		{def, "/tmp", true},
		{def, "/run/user/1000", true},
		{def, "/dev/shm/x", true},
		{def, "/proc/self", true},
		{def, "/usr/bin", false},
		{prefix, "/usr/bin", false},
		// As root, the sandbox's ids are others (a leased range); rootless,
		// its own, and so it can search what the caller can.
		{def, hidden, os.Geteuid() == 0},
		{def, "/", false},
		{rootfs, "/tmp/x", false},
		{chdir, "/tmp/x", false},
		{sandbox.Default().WithBinds("/usr"), "/usr/bin", true},
	} {
		if got := CwdKeyed(c.o, c.wd); got != c.want {
			t.Errorf("CwdKeyed(%s, root %v, cwd %q) = %v, want %v", c.wd, c.o.Root, c.o.Cwd, got, c.want)
		}
	}
}
