package ociruntime

import (
	"errors"

	"github.com/nsfork/nsfork/sandbox"
)

// ErrNotExist: no container of that id.
var ErrNotExist = errors.New("container does not exist")

// ErrExist: create found the id taken.
var ErrExist = errors.New("container exists already")

// Fail is a failure of the runtime itself, as nsfork's one setup error
// type: the step (id, root, lock, state, create, start, kill, delete,
// hooks.NAME, ...) with the container id after it, the operation, the path,
// and the cause: msg where words say it, err where an error does (both:
// "msg: err"). The command line exits 125 for it.
func Fail(step, id, op, path, msg string, err error) *sandbox.SetupError {
	if id != "" {
		step += " " + id
	}
	switch {
	case msg != "" && err != nil:
		err = &causeError{msg: msg, err: err}
	case msg != "":
		err = errors.New(msg)
	}
	return sandbox.NewSetupError(step, op, path, err)
}

// causeError is "msg: err", unwrapping to err.
type causeError struct {
	msg string
	err error
}

func (e *causeError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *causeError) Unwrap() error { return e.err }
