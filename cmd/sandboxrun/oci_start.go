package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/ociruntime"
)

func ociStart(g *ociGlobal, args []string) error {
	fs := verbFlags("start")
	pos, err := parseVerb(fs, args, 1, 1, "sandboxrun [global flags] start ID")
	if err != nil {
		return err
	}
	root, err := g.openRoot()
	if err != nil {
		return err
	}
	return startContainer(g, root, pos[0])
}

// startContainer releases a created container's command: one byte into
// its exec fifo, which its monitor waits on. Then the poststart hooks.
func startContainer(g *ociGlobal, root *ociruntime.Root, id string) error {
	lk, rec, err := lockRecord(root, id)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if st := rec.Status(); st != ociruntime.StatusCreated {
		return ociruntime.Fail("start", id, "", "", "the container is "+st+", not created", nil)
	}
	fifo := lk.File(ociruntime.FifoFile)
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		// ENXIO: nobody reads, the monitor is gone.
		return ociruntime.Fail("start", id, "open", fifo, "", err)
	}
	_, err = unix.Write(fd, []byte{0})
	unix.Close(fd)
	if err != nil {
		return ociruntime.Fail("start", id, "write", fifo, "", err)
	}
	os.Remove(fifo)
	rec.Started = true
	if err := root.Save(rec); err != nil {
		return err
	}
	if rec.Hooks != nil {
		// A poststart hook that fails is a warning: the container runs.
		if err := ociruntime.RunHooks(ociruntime.HookPoststart, rec.Hooks.Poststart, rec.SpecState(ociruntime.StatusRunning)); err != nil {
			g.logLine("warning", message(err))
			printErr(g.stdio.err, "warning: "+message(err))
		}
	}
	return nil
}

// ociRun is runc's run: create, start, wait, delete; the exit status is
// the container's. With --detach it returns once the container started.
func ociRun(g *ociGlobal, args []string) error {
	fs := verbFlags("run")
	var f createFlags
	addCreateFlags(fs, &f)
	detach := fs.BoolP("detach", "d", false, "return once the container started")
	keep := fs.Bool("keep", false, "do not delete the container after it exits")
	fs.Bool("no-subreaper", false, "accepted; the monitor is the container's parent anyway")
	pos, err := parseVerb(fs, args, 1, 1, "sandboxrun [global flags] run [--bundle DIR] [--detach] ID")
	if err != nil {
		return err
	}
	id := pos[0]
	// Signals for the container that arrive meanwhile are passed on once
	// it runs, to its monitor, which passes them to the container.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	c, err := createContainer(g, &f, id)
	if err != nil {
		return err
	}
	root := c.lk.Root
	c.lk.Unlock()
	if err := startContainer(g, root, id); err != nil {
		deleteContainer(g, root, id, true)
		c.monitor.Wait()
		return err
	}
	if *detach {
		c.monitor.Process.Release()
		return nil
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				c.monitor.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	werr := c.monitor.Wait()
	close(done)
	code := monitorExit(werr)
	if !*keep {
		if err := deleteContainer(g, root, id, true); err != nil && !errors.Is(err, ociruntime.ErrNotExist) {
			g.logError(err)
		}
	}
	return &containerExit{code: code}
}

// signalProc sends sig to p if it is still the process recorded: through a
// pidfd, checked against the start time after it was opened, so that a
// reused pid is never signalled.
func signalProc(p ociruntime.Proc, sig syscall.Signal) error {
	pidfd, err := unix.PidfdOpen(p.Pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	if !p.Alive() {
		return unix.ESRCH
	}
	return unix.PidfdSendSignal(pidfd, sig, nil, 0)
}
