package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestSetupErrorText(t *testing.T) {
	for _, c := range []struct {
		e    *SetupError
		want string
	}{
		{NewSetupError("mount", "mount proc", "/proc", syscall.EPERM), "mount proc /proc: operation not permitted (EPERM)"}, // the op names the step
		{NewSetupError("cwd", "chdir", "/x", &fs.PathError{Op: "chdir", Path: "/x", Err: syscall.ENOENT}), "cwd: chdir /x: no such file or directory (ENOENT)"},
		{NewSetupError("exec", "exec /bin/x", "/bin/x", syscall.EACCES), "exec /bin/x: permission denied (EACCES)"},
		{NewSetupError("cgroup", "create", "/sys/fs/cgroup/x", fmt.Errorf("%w: %w (hint)", ErrNoDelegation, syscall.EACCES)),
			"cgroup: create /sys/fs/cgroup/x: cgroup not delegated to this user: permission denied (EACCES) (hint)"},
		{&SetupError{Step: "idrange", Op: "lease", Path: "/d", Errno: syscall.EBUSY, Err: errors.New("every range is in use")},
			"idrange: lease /d: every range is in use (EBUSY)"},
		{&SetupError{Step: "refused", Op: "the parent refused the applied settings", Err: errors.New("strict")},
			"refused: the parent refused the applied settings: strict"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

func TestSetupErrorIs(t *testing.T) {
	e := NewSetupError("cgroup", "create", "/c", fmt.Errorf("%w: no: %w", ErrNoDelegation, syscall.EACCES))
	wrapped := fmt.Errorf("start: %w", e)
	for _, target := range []error{syscall.EACCES, ErrNoDelegation, fs.ErrPermission, &SetupError{Step: "cgroup"}, &SetupError{Step: "cgroup", Path: "/c", Errno: syscall.EACCES}} {
		if !errors.Is(wrapped, target) {
			t.Errorf("errors.Is(%v, %v) = false", wrapped, target)
		}
	}
	for _, target := range []error{syscall.EPERM, ErrInvalid, &SetupError{Step: "mount"}, &SetupError{Errno: syscall.EBUSY}} {
		if errors.Is(wrapped, target) {
			t.Errorf("errors.Is(%v, %v) = true", wrapped, target)
		}
	}
	if e.Errno != syscall.EACCES || e.Err == nil {
		t.Errorf("errno %v, cause %v", e.Errno, e.Err)
	}
	if p := NewSetupError("mount", "mount", "/", syscall.EPERM); p.Err != nil || p.Errno != syscall.EPERM {
		t.Errorf("a bare errno is no cause: %+v", p)
	}
}

func TestSetupErrorExitCode(t *testing.T) {
	for _, c := range []struct {
		e    *SetupError
		want int
	}{
		{NewSetupError("exec", "find command", "x", fmt.Errorf("not found in PATH: %w", syscall.ENOENT)), 127},
		{NewSetupError("exec", "execve", "/x", syscall.EACCES), 126},
		{NewSetupError("mount", "mount", "/x", syscall.ENOENT), 125},
	} {
		if got := c.e.ExitCode(); got != c.want {
			t.Errorf("%v: exit code %d, want %d", c.e, got, c.want)
		}
	}
}

// The JSON form is what crosses from the child (and from a job's holder):
// the text, the errno and the sentinels survive it.
func TestSetupErrorJSON(t *testing.T) {
	in := NewSetupError("cgroup", "write [memory] \"1g\"", "/c/memory.max", fmt.Errorf("%w: %w (hint)", ErrNoDelegation, syscall.EACCES))
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out SetupError
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Error() != in.Error() || out.Step != in.Step || out.Op != in.Op || out.Path != in.Path || out.Errno != in.Errno {
		t.Errorf("round trip: %s\n got %+v (%v)\nwant %+v (%v)", b, out, &out, in, in)
	}
	if !errors.Is(&out, ErrNoDelegation) || !errors.Is(&out, syscall.EACCES) || errors.Is(&out, errors.ErrUnsupported) {
		t.Errorf("sentinels lost: %s", b)
	}
	bare := NewSetupError("mount", "mount proc", "/proc", syscall.EPERM)
	b, _ = json.Marshal(bare)
	out = SetupError{}
	if err := json.Unmarshal(b, &out); err != nil || out != *bare {
		t.Errorf("bare errno: %s -> %+v %v", b, out, err)
	}
}
