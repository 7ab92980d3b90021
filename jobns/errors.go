package jobns

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
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

// Error is a failure of a step, in the caller or in the holder. Step is
// one of "name", "options", "dir", "lock", "listen", "holder", "connect",
// "peer", "handshake", "cwd", "exec", "relay".
type Error struct {
	Step string
	Op   string // the operation, e.g. "flock", "connect", "execve"
	Path string // the path involved, if any
	Err  error
	// Code is the exit status a command line should use: 127 for a
	// command that was not found, 126 for one that cannot be executed,
	// 125 otherwise.
	Code int
}

func (e *Error) Error() string {
	s := "jobns: " + e.Step + ": " + e.Op
	if e.Path != "" {
		s += " " + e.Path
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
		var errno syscall.Errno
		if errors.As(e.Err, &errno) && errno != 0 {
			if n := unix.ErrnoName(errno); n != "" {
				s += " (" + n + ")"
			}
		}
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is Code, or 125 when Code is not set.
func (e *Error) ExitCode() int {
	if e.Code == 0 {
		return 125
	}
	return e.Code
}

func fail(step, op, path string, err error) *Error {
	return &Error{Step: step, Op: op, Path: path, Err: err}
}

func failf(step, op, path, format string, args ...any) *Error {
	return &Error{Step: step, Op: op, Path: path, Err: fmt.Errorf(format, args...)}
}
