package sandbox

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// ErrNoDelegation is matched (with errors.Is) by a setup error of a caller
// that may not create or configure a cgroup where one is needed: an
// unprivileged caller without a delegated subtree, or a cgroup v2 parent
// that still holds processes. The errno that proved it (usually EACCES, or
// EBUSY) is matched too.
var ErrNoDelegation = errors.New("cgroup not delegated to this user")

// SetupError is a step of a sandbox's setup that failed, in the child (a
// mount, the ids, capabilities, seccomp, ...) or in the parent on the
// child's behalf (the cgroup, the id maps, rlimits, the id range lease,
// namespaces to join). It is the one error type for setup failures: the
// child sends it to its parent in its JSON encoding, and the parent returns
// it as it came.
//
// errors.Is(err, unix.EPERM) holds for its errno, errors.Is(err,
// ErrNoDelegation) or errors.Is(err, errors.ErrUnsupported) for those
// causes, also after the error crossed from the child; a *SetupError with
// only some fields set matches every setup error that has those values
// (errors.Is(err, &SetupError{Step: "mount"})).
type SetupError struct {
	Step  string        `json:"step"`            // the setup step, e.g. "mount", "ids", "seccomp", "cgroup", "rlimit"
	Op    string        `json:"op"`              // the operation, e.g. "mount proc"
	Path  string        `json:"path,omitempty"`  // the path involved, or ""
	Errno syscall.Errno `json:"errno,omitempty"` // the errno, found anywhere in the cause; 0 if none
	// Err is the cause in words where the errno does not say it all (it
	// may wrap the errno and sentinels such as ErrNoDelegation); nil when
	// the errno is the whole cause. It is encoded as its text and the
	// sentinels it matches.
	Err error `json:"-"`
}

// NewSetupError returns the error of step's op on path caused by err: the
// errno is taken from err's chain, and err is kept as the cause unless it
// is that errno alone. An *fs.PathError or *os.SyscallError is unwrapped
// first: the step names the operation and the path itself.
func NewSetupError(step, op, path string, err error) *SetupError {
	switch pe := err.(type) {
	case *fs.PathError:
		err = pe.Err
	case *os.SyscallError:
		err = pe.Err
	}
	e := &SetupError{Step: step, Op: op, Path: path, Err: err}
	if errors.As(err, &e.Errno) && err == error(e.Errno) {
		e.Err = nil
	}
	return e
}

// Error is "STEP: OP PATH: CAUSE (ENAME)": the step is left out where the
// operation starts with it, the path where the operation names it; with no
// operation, "STEP: PATH: CAUSE" (or "STEP: CAUSE").
func (e *SetupError) Error() string {
	var b strings.Builder
	switch {
	case e.Op == "" && e.Path != "":
		b.WriteString(e.Step)
		b.WriteString(":")
	case e.Op == "":
		b.WriteString(e.Step)
	case !strings.HasPrefix(e.Op, e.Step):
		b.WriteString(e.Step)
		b.WriteString(": ")
		b.WriteString(e.Op)
	default:
		b.WriteString(e.Op)
	}
	if e.Path != "" && !strings.Contains(e.Op, e.Path) {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	cause := ""
	if e.Err != nil {
		cause = e.Err.Error()
	} else if e.Errno != 0 {
		cause = e.Errno.Error()
	}
	if name := errnoName(e.Errno); name != "" && !strings.Contains(cause, name) {
		// The errno's name right after its text, where the text is.
		if i := strings.Index(cause, e.Errno.Error()); i >= 0 {
			j := i + len(e.Errno.Error())
			cause = cause[:j] + " (" + name + ")" + cause[j:]
		} else {
			cause += " (" + name + ")"
		}
	}
	if cause != "" {
		b.WriteString(": ")
		b.WriteString(cause)
	}
	return b.String()
}

// Unwrap returns the cause and the errno.
func (e *SetupError) Unwrap() []error {
	var out []error
	if e.Err != nil {
		out = append(out, e.Err)
	}
	if e.Errno != 0 {
		out = append(out, e.Errno)
	}
	return out
}

// Is reports whether target is a *SetupError whose set fields all equal
// e's: errors.Is(err, &SetupError{Step: "exec"}) asks "did exec fail".
func (e *SetupError) Is(target error) bool {
	t, ok := target.(*SetupError)
	if !ok || t == nil {
		return false
	}
	return (t.Step == "" || t.Step == e.Step) && (t.Op == "" || t.Op == e.Op) &&
		(t.Path == "" || t.Path == e.Path) && (t.Errno == 0 || t.Errno == e.Errno) && t.Err == nil
}

// ExitCode is the exit status a command line reports for e, as runc and
// the shells do: 127 for a command that was not found, 126 for one that
// could not be executed, 125 for any other setup failure.
func (e *SetupError) ExitCode() int {
	switch {
	case e.Step != "exec":
		return 125
	case errors.Is(e, fs.ErrNotExist):
		return 127
	default:
		return 126
	}
}

// sentinels are the causes whose identity survives the JSON encoding.
var sentinels = []struct {
	name string
	err  error
}{
	{"unsupported", errors.ErrUnsupported},
	{"no-delegation", ErrNoDelegation},
	{"invalid", ErrInvalid},
	{"not-exist", fs.ErrNotExist},
}

// setupFields is SetupError without its methods, for encoding/json.
type setupFields SetupError

// setupJSON is the encoding of a SetupError: the child's form of it on the
// wire, and jobns's.
type setupJSON struct {
	*setupFields
	Cause string   `json:"cause,omitempty"`
	Is    []string `json:"is,omitempty"`
}

// MarshalJSON encodes e; the cause travels as its text and the sentinels
// it matches.
func (e *SetupError) MarshalJSON() ([]byte, error) {
	j := setupJSON{setupFields: (*setupFields)(e)}
	if e.Err != nil {
		j.Cause = e.Err.Error()
		for _, s := range sentinels {
			if errors.Is(e.Err, s.err) {
				j.Is = append(j.Is, s.name)
			}
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON made.
func (e *SetupError) UnmarshalJSON(b []byte) error {
	*e = SetupError{}
	j := setupJSON{setupFields: (*setupFields)(e)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Cause != "" || len(j.Is) > 0 {
		c := &cause{text: j.Cause}
		for _, s := range sentinels {
			if slices.Contains(j.Is, s.name) {
				c.is = append(c.is, s.err)
			}
		}
		e.Err = c
	}
	return nil
}

// cause is a decoded cause: the text it had and the sentinels it matched.
type cause struct {
	text string
	is   []error
}

func (c *cause) Error() string   { return c.text }
func (c *cause) Unwrap() []error { return c.is }
