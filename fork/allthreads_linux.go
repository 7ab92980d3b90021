package fork

import (
	"fmt"
	"syscall"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// ErrNoPSX: a cgo build that does not import github.com/nsfork/nsfork/psx
// was asked for a sandbox whose setup changes every thread of the child
// (capabilities, Landlock, late namespaces). It is wrapped in a
// *SetupError naming the step, returned before the child starts.
var ErrNoPSX = allthreads.ErrNoPSX

// checkAllThreads refuses, before the child starts, a sandbox whose setup
// must change every thread of the child when this program cannot: a cgo
// build that does not import github.com/nsfork/nsfork/psx (the child is
// this program, so it lacks libpsx too). The child's steps fail closed as
// well (nsinit's psxUsable), for what the parent cannot foresee.
func (p *isolation) checkAllThreads(exec bool) error {
	err := allthreads.Available()
	if err == nil {
		return nil
	}
	step, op := nsinit.AllThreadsStep(p.opts, exec, p.ambient != nil)
	if step == "" {
		return nil
	}
	return sandbox.NewSetupError(step, op+" on every thread", "", fmt.Errorf("%w: %w", syscall.ENOTSUP, err))
}
