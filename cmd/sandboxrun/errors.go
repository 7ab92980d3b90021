package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// Exit codes of sandboxrun itself; every other code is the command's.
const (
	exitLauncher      = 125 // sandboxrun or the sandbox setup failed
	exitNotExecutable = fork.ExitNotExecutable
	exitNotFound      = fork.ExitNotFound
	exitTimeout       = 124 // --timeout expired, as timeout(1)
)

// errnoText is "operation not permitted (EPERM)".
func errnoText(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return e.Error() + " (" + n + ")"
	}
	return fmt.Sprintf("%s (errno %d)", e.Error(), int(e))
}

// message turns an error into the one line sandboxrun prints, without the
// "sandboxrun: " prefix. A setup error renders itself (step, operation,
// path, errno with its name); others get the errno's name added.
func message(err error) string {
	var se *sandbox.SetupError
	if errors.As(err, &se) {
		return oneLine(se.Error())
	}
	s := err.Error()
	s = strings.TrimPrefix(s, "fork: ")
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		if n := unix.ErrnoName(errno); n != "" && !strings.Contains(s, n) {
			s += " (" + n + ")"
		}
	}
	return oneLine(s)
}

// oneLine folds a multi-line (errors.Join) message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' }), "; ")
}

// outcome maps what Process.Wait returned to sandboxrun's exit code, and a
// line to print (empty for a command that simply exited).
func outcome(err error, state interface{ ExitCode() int }) (int, string) {
	if err == nil {
		return 0, ""
	}
	var se *sandbox.SetupError
	if errors.As(err, &se) {
		code := se.ExitCode()
		if code == exitNotExecutable && state != nil && state.ExitCode() == exitNotFound {
			code = exitNotFound
		}
		return code, message(se)
	}
	var sc *fork.SeccompError
	if errors.As(err, &sc) {
		return 128 + int(syscall.SIGSYS), "the seccomp filter killed the command (SIGSYS): it made a system call the profile forbids"
	}
	if code, msg, ok := oomOutcome(err); ok {
		return code, msg
	}
	var ee *fork.ExitError
	if errors.As(err, &ee) {
		if sig := ee.Signal(); sig != 0 {
			return 128 + int(sig), ""
		}
		code := ee.ExitCode()
		if ee.Reason != "" || code < 0 {
			return exitLauncher, message(err)
		}
		return code, ""
	}
	return exitLauncher, message(err)
}

func printErr(w io.Writer, msg string) {
	if msg != "" {
		fmt.Fprintln(w, "sandboxrun: "+msg)
	}
}
