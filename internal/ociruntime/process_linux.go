package ociruntime

import (
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// ApplyProcess applies a process's settings (rlimits, ids, the bounding
// set, capabilities, no_new_privs, seccomp, ...) to the calling process,
// already inside the container's namespaces, through the same nsinit steps
// as the container's own process; the caller executes the command next, on
// the locked thread it called from. It is exec's last step before execve.
func ApplyProcess(o *sandbox.Options, filter *seccomp.Program) error {
	if _, err := nsinit.Setup(o, nsinit.Config{Filter: filter, Exec: true}); err != nil {
		return err
	}
	return nsinit.ApplyDeferredRlimits(o)
}
