// Package nsinit applies sandbox.Options inside a freshly started child,
// before the child's function runs or its command is executed.
//
// It knows nothing of registered functions or of the wire protocol: the fork
// package reads the request, then calls Setup once, on a goroutine locked
// to its OS thread, after the parent has written the id maps and set the
// rlimits, and reports the error, if any, to the parent. From the request
// to the function, the child's life is Setup's table of steps.
//
// # Order
//
// Setup runs the table of steps in setup_linux.go, in the order of
// docs/design.md, "A child's life", one file per step: stray descriptors
// closed, the time namespace (a re-exec), the arguments taken, mounts
// (propagation, a new /proc once the pid namespace exists), hostname and
// domain name, loopback up, the oom score, rlimits, the keyring, the
// bounding set, groups, gid and uid, the parent-death signal again (an id
// change clears it), the working directory, capabilities, no_new_privs,
// Landlock and seccomp, last; then what the setup left open is closed.
//
// # Every thread
//
// A Go process runs several OS threads before Setup starts. Capabilities,
// the bounding set, securebits and no_new_privs are per thread in Linux;
// Setup changes them on every thread at once (syscall.AllThreadsSyscall
// when cgo is off; with cgo libcap's libpsx, which the program links by
// importing github.com/nsfork/nsfork/psx, and without which these steps
// fail closed), and seccomp is loaded with SECCOMP_FILTER_FLAG_TSYNC.
// Threads made later are copies of these.
//
// # Errors
//
// Every failure is a *sandbox.SetupError naming the step, the operation,
// the path and the errno, so errors.Is(err, unix.EPERM) holds in the parent.
package nsinit

import (
	"errors"

	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// fail is the *sandbox.SetupError of step's op on path.
func fail(step, op, path string, err error) error {
	return sandbox.NewSetupError(step, op, path, err)
}

// ErrUnsupported is wrapped by errors about options this build or kernel
// cannot apply.
var ErrUnsupported = errors.ErrUnsupported

// Config is what the caller knows that the Options do not say.
type Config struct {
	// Ctrl is the descriptor of the channel to the parent; a hang-up on it
	// after an id change means the parent died.
	Ctrl int
	// FirstFD and NumFDs are the descriptors passed on purpose (the
	// channel and what follows it); Staged is the descriptor of a
	// staged request in a second stage (0 in the first). Any other
	// descriptor without close-on-exec is closed (step "fds").
	FirstFD, NumFDs, Staged int
	// Stage, in the first stage, keeps the request for a second one
	// (the time namespace's re-exec, step "time") and returns the
	// environment of that exec.
	Stage func() (env []string, err error)
	// Arguments takes the function and its arguments (step
	// "arguments"); its error is returned by Setup as it is.
	Arguments func() error
	// DieWithParent restores the parent-death signal after id changes.
	DieWithParent bool
	// Filter is the seccomp program compiled by the parent from
	// Options.Seccomp, with its flags (nil without a profile).
	Filter *seccomp.Program
	// Exec says the process runs a command after setup, from the calling
	// thread (locked to it): by execve, or, as pid 1, by a vfork and
	// execve from it. The bounding set then needs dropping on this thread
	// only: it counts at execve and for raising inheritable
	// capabilities, the command inherits it from this thread, and the
	// other threads either vanish at the execve or belong to a pid 1
	// whose permitted set is no more than the requested one, under
	// no_new_privs, and which never execs again. That is
	// one prctl per capability instead of a stop of every thread each.
	Exec bool
	// CarriedCaps says the start raised the inheritable and ambient sets
	// to carry the capabilities over the exec into a user namespace whose
	// id maps were written after it (fork/mapsafter_linux.go): the
	// capability step clears both also where the options leave the sets
	// as the start gave them.
	CarriedCaps bool
}
