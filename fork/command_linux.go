package fork

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/console"
	"github.com/nsfork/nsfork/internal/earlysig"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// commandFunc is the registry entry behind StartCommand; it is never called
// as a function, the child execs instead.
var commandFunc = func() *Function {
	f := NewFork("nsfork:exec", func() {})
	Register(f)
	return f
}()

// Exit codes of a command that could not be started, as in shells.
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// StartCommand runs argv isolated as opts says (nil: not isolated). The
// child applies the sandbox, then execs argv[0] (looked up in the PATH of
// the child's environment): nothing of the launcher survives the exec. In a
// new pid namespace the launcher stays as pid 1 instead, reaping orphans,
// forwarding signals (TERM, INT, HUP, QUIT, USR1, USR2, WINCH, CONT) and
// exiting with the command's status (128+N when signal N killed it).
// Wait returns nil for exit 0 and an *ExitError otherwise (an *OOMError
// wrapping it when the OOM killer killed the command); a command that
// cannot be found or run gives a *SetupError with step "exec" and exit
// code 127 or 126.
func (c *Config) StartCommand(ctx context.Context, opts *sandbox.Options, argv ...string) (*Process, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("%w: StartCommand needs a command", ErrArgs)
	}
	if c == nil {
		c = &Config{}
	}
	return launchMode(ctx, c, commandFunc, opts, nil, argv)
}

// checkFilterAllowsExec refuses a filter that would kill the launcher's
// own execve in command mode.
func checkFilterAllowsExec(p *seccomp.Program) error {
	ok, err := p.Allows(runtime.GOARCH, unix.SYS_EXECVE)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the profile does not allow execve: the command could never start")
	}
	return nil
}

// execCommand is the child's command mode: it returns only on failure,
// with the exit code to use.
func execCommand(argv []string, send func(wire.Kind, []byte), term *os.File, opts *sandbox.Options) int {
	fail := func(op, path string, err error) int { return execFailed(send, op, path, err) }
	path, code := findCommand(argv[0], send)
	if code != 0 {
		return code
	}
	if os.Getpid() == 1 {
		return runAsInit(path, argv, send, fail, term)
	}
	if term != nil {
		if err := console.Control(term); err != nil {
			return consoleFailed(send, err)
		}
		term.Close()
	}
	// Not a pid 1: this process becomes the command, with the rlimits
	// setup left to it (nsinit.DeferredRlimit), set last.
	if err := nsinit.ApplyDeferredRlimits(opts); err != nil {
		send(wire.KindSetup, setupFrame(err))
		return wire.ExitSetup
	}
	send(wire.KindReady, nil)
	err := unix.Exec(path, argv, os.Environ())
	return fail("execve", path, err)
}

// findCommand looks name up in the PATH of the child's environment. On
// failure it reports the "exec" step's error and returns the exit code
// (127 not found, 126 otherwise).
func findCommand(name string, send func(wire.Kind, []byte)) (string, int) {
	path, err := exec.LookPath(name)
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err // the step names the command
		}
		if errors.Is(err, exec.ErrNotFound) {
			err = syscall.ENOENT
		}
		return "", execFailed(send, "find command", name, err)
	}
	return path, 0
}

// execFailed reports a failure of the "exec" step and returns the exit
// code to use.
func execFailed(send func(wire.Kind, []byte), op, path string, err error) int {
	se := sandbox.NewSetupError("exec", op, path, err)
	send(wire.KindSetup, setupFrame(se))
	return se.ExitCode()
}

// runAsInit starts the command as the only child of pid 1 and mirrors it.
// It starts it through syscall.ForkExec rather than os/exec: os/exec's first
// start in a process first forks a throwaway child to check that pidfds
// work, which would be on every sandbox's clock here.
func runAsInit(path string, argv []string, send func(wire.Kind, []byte), fail func(string, string, error) int, term *os.File) int {
	sigs := earlyInit.Channel(initForwarded...)
	// The command shares our ids and capabilities: without this it could
	// ptrace us or read /proc/1/mem and reach the channel to the caller.
	// Its own execve makes it dumpable again.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail("prctl PR_SET_DUMPABLE", "", err)
	}
	// The pidfd, held until the command is reaped, also keeps the reaper
	// away from its exit status. The start runs on this locked thread,
	// whose bounding set the command inherits (nsinit.Config.Exec).
	pidfd := -1
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{PidFD: &pidfd}}
	if term != nil {
		// The terminal is the command's: its stdio, and the controlling
		// terminal of the new session it leads.
		t := term.Fd()
		attr.Files = []uintptr{t, t, t}
		attr.Sys.Setsid, attr.Sys.Setctty, attr.Sys.Ctty = true, true, 0
	}
	pid, err := syscall.ForkExec(path, argv, attr)
	if term != nil {
		term.Close()
	}
	if err != nil {
		return fail("start", path, err)
	}
	send(wire.KindReady, nil)
	done, forwarded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case s := <-sigs:
				// A seccomp profile of the sandbox's may deny
				// pidfd_send_signal (runtime-tools' default and
				// Docker's before 2019 do, and this process is
				// under it): then kill(2), which cannot hit a
				// reused pid either, since the command stays our
				// unreaped child until the forwarding stopped.
				if unix.PidfdSendSignal(pidfd, s.(syscall.Signal), nil, 0) != nil {
					unix.Kill(pid, s.(syscall.Signal))
				}
			case <-done:
				return
			}
		}
	}()
	// Wait for the end without reaping (WNOWAIT), stop forwarding, then
	// reap: until then the command's pid is its own.
	for {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			break
		}
	}
	// The signals stay registered (releasing them is another round trip
	// to the runtime's signal thread per signal, on the command's clock):
	// what arrives from here on waits in sigs, unread, and this process
	// exits with the command's status, not from a signal's default action.
	close(done)
	<-forwarded
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	unix.Close(pidfd)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// initForwarded are the signals a command-mode pid 1 passes on.
var initForwarded = earlysig.Forwarded

// earlyInit is the registration of initForwarded by a command's pid 1,
// started with its setup (child), or before it goes idle in a pool
// (idleInitSignals). Signals that arrive from then on wait for the command
// instead of ending the setup with the Go runtime's default action.
var earlyInit earlysig.Set

// idleInitSignals registers initForwarded (earlyInit) in a pooled
// command child's pid 1 before it goes idle, so that the registration is
// not on its command's clock. Until the returned function is called (the
// command arrived), those signals end the child as their default actions
// would (SIGWINCH and SIGCONT are ignored); from then on they wait for the
// command.
func idleInitSignals() (commandArrived func()) {
	earlyInit.Start(initForwarded...)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-earlyInit.Registered():
		case <-stop:
			return
		}
		sigs := earlyInit.Channel()
		for {
			select {
			case s := <-sigs:
				sig := s.(syscall.Signal)
				if sig == syscall.SIGWINCH || sig == syscall.SIGCONT {
					continue
				}
				os.Exit(128 + int(sig))
			case <-stop:
				return
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
	}
}
