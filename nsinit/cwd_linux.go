package nsinit

import (
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepCwd changes to the working directory (the environment was built by
// the parent: fork's childEnv): Options.Cwd, or else the one the mount
// step placed in the view for the caller's (mounts_cwd_linux.go).
func stepCwd(o *sandbox.Options, _ Config, a *Applied) error {
	if o.Cwd == "" {
		return enterPlacedCwd(a)
	}
	if err := unix.Chdir(o.Cwd); err != nil {
		return fail("cwd", "chdir", o.Cwd, err)
	}
	return nil
}
