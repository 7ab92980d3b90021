package fork

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// Errors returned before a child is started.
var (
	// ErrNotRegistered: the name was never registered in this binary.
	ErrNotRegistered = errors.New("fork: function not registered")
	// ErrArgs: the arguments do not fit the registered function.
	ErrArgs = errors.New("fork: arguments do not match the function")
	// ErrInitNotCalled: Fork was called in a child that fork.Init() never
	// took over, which would otherwise fork again and again.
	ErrInitNotCalled = errors.New("fork: this process was started as a fork child but fork.Init() did not run before Fork: call fork.Init() early (in init() or first thing in main)")
	// ErrNoInit: the child exited without ever calling fork.Init().
	ErrNoInit = errors.New("fork: the child exited before fork.Init() took it over: call fork.Init() early (in init() or first thing in main) and register the function before it")
	// ErrResultTooLarge: the child sent more than Config.MaxResult bytes.
	ErrResultTooLarge = errors.New("fork: result too large")
)

// RemoteError is a non-nil error returned by the function in the child.
// Its text and dynamic type travel back; when the child's error wrapped a
// syscall.Errno, errors.Is(err, thatErrno) holds in the parent too.
type RemoteError struct {
	Msg   string        // err.Error() in the child
	Type  string        // the dynamic type, e.g. "*fs.PathError"
	Errno syscall.Errno // found by errors.As in the child, 0 if none
}

func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the errno, if any.
func (e *RemoteError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// PanicError is a panic in the child's function.
type PanicError struct {
	Value string // fmt.Sprint of the panic value
	Type  string // its dynamic type
	Stack string // the child's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("fork: child panicked: %s", e.Value)
}

// SetupError is a sandbox setup step that failed, in the child before the
// function ran or in the parent on its behalf (the cgroup, id maps,
// rlimits): a *sandbox.SetupError, defined there so that users of sandbox
// alone can match it. errors.Is(err, unix.EPERM) and friends hold.
type SetupError = sandbox.SetupError

// ExitError reports a child that ended without telling its parent why: it
// called os.Exit, was killed by a signal, or broke the protocol.
type ExitError struct {
	*os.ProcessState
	Reason string // what the parent knows beyond the status, may be empty
}

func (e *ExitError) Error() string {
	s := "fork: child " + e.ProcessState.String()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the exit status as an *exec.ExitError, so that code written
// for os/exec or go-fork (errors.As(err, &exitErr)) finds it. A child that
// exited 0 has none.
func (e *ExitError) Unwrap() error {
	if e.ProcessState == nil || e.Success() {
		return nil
	}
	return &exec.ExitError{ProcessState: e.ProcessState}
}

// Signal returns the signal that killed the child, or 0.
func (e *ExitError) Signal() syscall.Signal {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// ProtocolError is a child that sent something the parent could not read.
type ProtocolError struct {
	Err error
}

func (e *ProtocolError) Error() string { return "fork: protocol: " + e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

// SeccompError is a child killed by its seccomp filter (SIGSYS). The
// kernel does not tell the parent which system call it was; Syscall is
// empty then.
type SeccompError struct {
	*ExitError
	Syscall string
}

func (e *SeccompError) Error() string {
	s := "fork: seccomp violation: the filter killed the child (SIGSYS)"
	if e.Syscall != "" {
		s += " at " + e.Syscall
	}
	return s
}

func (e *SeccompError) Unwrap() error { return e.ExitError }

// OOMError is a child killed by the kernel's OOM killer at its cgroup's
// memory limit, in function and in command mode (see Process.Wait).
type OOMError struct {
	*ExitError
	Usage Usage
}

func (e *OOMError) Error() string { return "fork: " + oomText(&e.Usage) }

func (e *OOMError) Unwrap() error { return e.ExitError }

// reasonBeforeReady says why a child ended before it ran its function.
func reasonBeforeReady(st *os.ProcessState) string {
	switch st.ExitCode() {
	case wire.ExitProtocol:
		return "the child could not read its request"
	case wire.ExitBadMarker:
		return "the child found no valid parent channel"
	case wire.ExitParentGone:
		return "the child lost its parent channel"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		// Killed from outside (a cancelled context, a timeout, a
		// signal): not a program that forgot fork.Init.
		return "the child ended before running the function, by a signal (a cancelled context, a timeout, a kill)"
	}
	return "the child ended before running the function (" + ErrNoInit.Error() + ")"
}
