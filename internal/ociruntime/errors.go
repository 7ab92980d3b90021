package ociruntime

import (
	"errors"
	"strings"
)

// ErrNotExist: no container of that id.
var ErrNotExist = errors.New("container does not exist")

// ErrExist: create found the id taken.
var ErrExist = errors.New("container exists already")

// Error is a failure of the runtime itself: the step (id, root, lock, state,
// create, start, kill, delete, hooks.NAME, ...), the container id, the
// operation and the path.
type Error struct {
	Step string
	ID   string
	Op   string
	Path string
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Step)
	if e.ID != "" {
		b.WriteString(" " + e.ID)
	}
	b.WriteString(":")
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	if e.Msg != "" {
		if e.Op != "" || e.Path != "" {
			b.WriteString(":")
		}
		b.WriteString(" " + e.Msg)
	}
	if e.Err != nil {
		if e.Op != "" || e.Path != "" || e.Msg != "" {
			b.WriteString(":")
		}
		b.WriteString(" " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
