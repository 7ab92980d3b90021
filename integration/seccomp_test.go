package integration

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// SeccompInside is what a function sees under a filter.
type SeccompInside struct {
	MkdirErrno int
	UnshareErr int
	Threads    []map[string]string
}

func seccompProbe(dir string) (*SeccompInside, error) {
	in := &SeccompInside{}
	if err := os.Mkdir(dir+"/x", 0o755); err != nil {
		var e syscall.Errno
		if errors.As(err, &e) {
			in.MkdirErrno = int(e)
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
		in.UnshareErr = int(err.(syscall.Errno))
	}
	release := blockThreads(32)
	in.Threads = threadStatus()
	release()
	return in, nil
}

func init() {
	fork.RegisterFunc("seccompProbe", seccompProbe)
	fork.RegisterFunc("getppidProbe", func() int { return unix.Getppid() })
}

func denyProfile(name string, action specs.LinuxSeccompAction, errno uint) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{name}, Action: action, ErrnoRet: &errno}},
	}
}

// TestSeccompErrnoEveryThread: a denied syscall fails with the errno asked
// for, allowed ones work, and every thread carries the filter.
func TestSeccompErrnoEveryThread(t *testing.T) {
	opts := sandbox.Default()
	opts.Seccomp = denyProfile("mkdirat", specs.ActErrno, uint(unix.EXDEV))
	dir := sharedDir(t)
	in, err := fork.Call[*SeccompInside](context.Background(), "seccompProbe", opts.WithBinds(dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.MkdirErrno != int(unix.EXDEV) {
		t.Errorf("mkdir errno %d, want EXDEV", in.MkdirErrno)
	}
	if len(in.Threads) < 33 {
		t.Fatalf("%d threads", len(in.Threads))
	}
	for i, th := range in.Threads {
		if th["Seccomp"] != "2" || th["Seccomp_filters"] != "1" || th["NoNewPrivs"] != "1" {
			t.Errorf("thread %d: %v", i, th)
		}
	}
}

// TestSeccompDockerDefault: Docker's default profile, resolved for the
// capabilities the sandbox keeps (none), denies unshare.
func TestSeccompDockerDefault(t *testing.T) {
	prof, err := seccomp.DefaultProfile(nil, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	opts := sandbox.Default()
	opts.Seccomp = prof
	dir := sharedDir(t)
	in, err := fork.Call[*SeccompInside](context.Background(), "seccompProbe", opts.WithBinds(dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.UnshareErr != int(unix.EPERM) {
		t.Errorf("unshare under the default profile: errno %d, want EPERM", in.UnshareErr)
	}
	if in.MkdirErrno != 0 {
		t.Errorf("mkdir denied: %d", in.MkdirErrno)
	}
}

// TestSeccompKillIsTyped: a function killed by its filter is reported as a
// seccomp violation, not a bare exit status.
func TestSeccompKillIsTyped(t *testing.T) {
	opts := sandbox.Default()
	opts.Seccomp = denyProfile("getppid", specs.ActKillProcess, 0)
	_, err := fork.Call[int](context.Background(), "getppidProbe", opts)
	var se *fork.SeccompError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *fork.SeccompError", err)
	}
}

// TestSeccompBadProfileRefused: a bad profile is an error before anything
// starts; so is a profile that blocks the launcher's own execve.
func TestSeccompBadProfileRefused(t *testing.T) {
	opts := sandbox.Default()
	opts.Seccomp = denyProfile("no_such_syscall", specs.ActErrno, 1)
	if _, err := new(fork.Config).Start(context.Background(), "getppidProbe", opts); err == nil || !strings.Contains(err.Error(), "no_such_syscall") {
		t.Errorf("unknown syscall: %v", err)
	}
	opts.Seccomp = denyProfile("execve", specs.ActKillProcess, 0)
	if _, err := (&fork.Config{}).StartCommand(context.Background(), opts, "/bin/true"); err == nil || !strings.Contains(err.Error(), "execve") {
		t.Errorf("execve blocked in command mode: %v", err)
	}
}
