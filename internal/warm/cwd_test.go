package warm

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// TestCwdKeyed: a pool is its caller's working directory's exactly where
// a mount of the view is at that directory or above it and the sandbox
// keeps the caller's directory.
func TestCwdKeyed(t *testing.T) {
	def := sandbox.Default()
	rootfs := sandbox.Default()
	rootfs.Root = &specs.Root{Path: "/srv/rootfs"}
	chdir := sandbox.Default()
	chdir.Cwd = "/work"
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
		{def, "/home/u/proj", false},
		{def, "/tmpfoo", false},
		{def, "/", false},
		{rootfs, "/tmp/x", false},
		{chdir, "/tmp/x", false},
		{sandbox.Default().WithBinds("/home/u/proj"), "/home/u/proj/src", true},
	} {
		if got := CwdKeyed(c.o, c.wd); got != c.want {
			t.Errorf("CwdKeyed(%s, root %v, cwd %q) = %v, want %v", c.wd, c.o.Root, c.o.Cwd, got, c.want)
		}
	}
}
