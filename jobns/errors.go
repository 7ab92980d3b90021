package jobns

import (
	"errors"
	"fmt"

	"github.com/nsfork/nsfork/sandbox"
)

// ErrOptionsDiffer is the holder's refusal of a caller whose sandbox
// options differ from the ones the job's holder applied.
var ErrOptionsDiffer = errors.New("the sandbox options differ from the job's")

// ErrInsideJob is the holder's refusal of a caller that runs inside the
// job it asks to join (in the job's pid namespace): a rank cannot add
// members to its own job, nor keep the job alive.
var ErrInsideJob = errors.New("the caller runs inside the job's own pid namespace")

// ErrSquatted means the job's rendezvous directory exists and belongs to
// another user: it is never used.
var ErrSquatted = errors.New("the directory belongs to another user")

// ErrHolderGone means the holder closed the connection after it started the
// rank and before it sent the rank's exit status.
var ErrHolderGone = errors.New("the job's holder closed the connection")

// A failure of a step, in the caller or in the holder, is a
// *sandbox.SetupError. Its Step is one of "name", "options", "dir", "lock",
// "listen", "holder", "connect", "peer", "handshake", "cwd", "exec",
// "relay"; its ExitCode is the status a command line should use (127 for a
// command that was not found, 126 for one that cannot be executed, 125
// otherwise).

func fail(step, op, path string, err error) *sandbox.SetupError {
	return sandbox.NewSetupError(step, op, path, err)
}

func failf(step, op, path, format string, args ...any) *sandbox.SetupError {
	return sandbox.NewSetupError(step, op, path, fmt.Errorf(format, args...))
}
