package nsinit

import (
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepCwd changes to the working directory (the environment was built by
// the parent: fork's childEnv).
func stepCwd(o *sandbox.Options, _ Config, _ *Applied) error {
	if o.Cwd == "" {
		return nil
	}
	if err := unix.Chdir(o.Cwd); err != nil {
		return fail("cwd", "chdir", o.Cwd, err)
	}
	return nil
}
