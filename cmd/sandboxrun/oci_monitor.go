package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/sandbox"
)

// monitorVerb is the hidden command create starts: the monitor is the
// container init's parent for the container's whole life. It holds what
// must live exactly as long as the container (its cgroup, its lease of
// host ids, both owned by the fork.Process), passes signals on, reaps the
// init and removes the cgroup when it ends. The container dies with it
// (parent-death signal), so neither outlives the other. Its fd 3 is the
// status pipe to create.
const monitorVerb = "__monitor"

func ociMonitor(g *ociGlobal, args []string) error {
	// --reparent (create): the container's init is create's child, then
	// its caller's (conmon, containerd's shim wait for it as theirs).
	// --console: fd 4 is the caller's console socket.
	var reparent, console bool
	for len(args) > 1 && (args[0] == "--reparent" || args[0] == "--console") {
		reparent = reparent || args[0] == "--reparent"
		console = console || args[0] == "--console"
		args = args[1:]
	}
	if len(args) != 1 {
		return ociruntime.Fail("monitor", "", "", "", "usage: "+monitorVerb+" [--reparent] [--console] ID", nil)
	}
	id := args[0]
	unix.CloseOnExec(3)
	status := os.NewFile(3, "status")
	var once sync.Once
	var reported, reportedErr atomic.Bool
	report := func(rep monitorReport) (err error) {
		once.Do(func() {
			reported.Store(true)
			reportedErr.Store(rep.Error != "")
			err = json.NewEncoder(status).Encode(rep)
			status.Close()
		})
		return err
	}
	fail := func(err error) error {
		report(monitorReport{Error: oneLine(message(err))})
		return err
	}
	root, err := g.openRoot()
	if err != nil {
		return fail(err)
	}
	// create holds the lock until we report.
	rec, err := root.Load(id)
	if err != nil {
		return fail(err)
	}
	pl, err := bundlePlan(filepath.Join(root.Path(id), ociruntime.ConfigFile), g.hostRoot)
	if err != nil {
		return fail(ociruntime.Fail("create", id, "", "", oneLine(err.Error()), nil))
	}

	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	fifo := filepath.Join(root.Path(id), ociruntime.FifoFile)
	var consoleSock *os.File
	if console {
		unix.CloseOnExec(4)
		consoleSock = os.NewFile(4, "console-socket")
	}
	cfg := &fork.Config{Hold: true, Reparent: reparent, Console: consoleSock, OnApplied: func(p *fork.Process, _ *sandbox.Applied) error {
		init, err := ociruntime.Identify(p.Pid)
		if err != nil {
			err = ociruntime.Fail("create", id, "identify init", "", "", err)
			fail(err)
			return err
		}
		rec.Init = init
		st := rec.SpecState(ociruntime.StatusCreating)
		if rec.Hooks != nil {
			if err := ociruntime.RunHooks(ociruntime.HookPrestart, rec.Hooks.Prestart, st); err != nil {
				fail(err)
				return err
			}
			if err := ociruntime.RunHooks(ociruntime.HookCreateRuntime, rec.Hooks.CreateRuntime, st); err != nil {
				fail(err)
				return err
			}
		}
		// The fifo is open before create returns: a start right after it
		// finds its reader.
		fd, err := unix.Open(fifo, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			err = ociruntime.Fail("create", id, "open", fifo, "", err)
			fail(err)
			return err
		}
		defer unix.Close(fd)
		if err := report(monitorReport{Init: init, Cgroup: p.CgroupPaths()}); err != nil {
			// create is gone: nobody will know this container.
			return ociruntime.Fail("create", id, "report to create", "", "", err)
		}
		return awaitStart(fd, fifo, p.Pid)
	}}
	p, err := cfg.StartCommand(context.Background(), pl.opts, pl.argv...)
	if consoleSock != nil {
		consoleSock.Close()
	}
	if err != nil {
		return fail(err)
	}
	sup := supervise(sigs, &runFlags{}, func(s os.Signal) { p.Signal(s) }, func() { killAll(p) })
	werr := p.Wait()
	sup.stop()
	if errors.Is(werr, fork.ErrReparented) {
		// The status is the caller's; ours says nothing.
		return nil
	}
	code, msg := outcome(werr, p.ProcessState)
	if msg != "" && !reported.Load() {
		// Before "created" this goes to create, which prints it.
		fail(errors.New(msg))
	} else if msg != "" && !reportedErr.Load() {
		// After, to the log and the container's stderr, as runc's
		// init errors do; not the child's end after a failure create
		// prints (create waits for us, awaitExit).
		if g.log != "" {
			g.logLine("error", id+": "+msg)
		}
		printErr(os.Stderr, msg)
	}
	return &containerExit{code: code}
}

// awaitStart waits until start writes a byte into the exec fifo (fd, open
// read-write: it never reports end-of-file, and start's non-blocking open
// for writing succeeds only while it is open here), or the container's
// init dies.
func awaitStart(fd int, fifo string, pid int) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return ociruntime.Fail("create", "", "pidfd_open", "", "", err)
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ociruntime.Fail("create", "", "poll", fifo, "", err)
		}
		if fds[1].Revents != 0 {
			return ociruntime.Fail("create", "", "", "", "the container's init ended before start", nil)
		}
		var b [1]byte
		if n, _ := unix.Read(fd, b[:]); n == 1 {
			return nil
		}
	}
}

// bundlePlan is the sandbox a config.json asks for, as `sandboxrun run
// --config FILE` makes it: the secure defaults and notes are the same.
func bundlePlan(config string, hostRoot bool) (*plan, error) {
	fs := verbFlags("run")
	rf := addRunFlags(fs)
	args := []string{"--config", config}
	if hostRoot {
		args = append(args, "--host-root")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pl, err := rf.build(nil)
	if err != nil {
		return nil, err
	}
	if err := pl.opts.Validate(); err != nil {
		return nil, errors.New(validationMessage(err))
	}
	readonlyLauncher(pl.opts)
	return pl, nil
}
