package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/cgroups"
	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/internal/pidsig"
)

func ociKill(g *ociGlobal, args []string) error {
	fs := verbFlags("kill")
	all := fs.BoolP("all", "a", false, "signal every process of the container")
	pos, err := parseVerb(fs, args, 1, 2, "sandboxrun [global flags] kill [--all] ID [SIGNAL]")
	if err != nil {
		return err
	}
	id := pos[0]
	sig := unix.SIGTERM
	if len(pos) == 2 {
		if sig, err = parseSignal(pos[1]); err != nil {
			return ociruntime.Fail("kill", id, "", "", err.Error(), nil)
		}
	}
	root, err := g.openRoot()
	if err != nil {
		return err
	}
	lk, rec, err := lockRecord(root, id)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	st := rec.Status()
	if st != ociruntime.StatusCreated && st != ociruntime.StatusRunning {
		return ociruntime.Fail("kill", id, "", "", "the container is "+st+": nothing to signal", nil)
	}
	if *all {
		// Through pidfds, to the processes still listed once pinned: a
		// listed pid that exited and was taken by a process outside the
		// container is never signalled.
		pidsig.Listed(func() []int { return containerPids(rec) }, sig)
	}
	if err := signalProc(rec.Init, sig); err != nil && !(*all && errors.Is(err, unix.ESRCH)) {
		return ociruntime.Fail("kill", id, "signal "+unix.SignalName(sig), "", "", err)
	}
	return nil
}

// parseSignal takes a signal by number, name or name without SIG.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func ociDelete(g *ociGlobal, args []string) error {
	fs := verbFlags("delete")
	force := fs.BoolP("force", "f", false, "kill a container that is not stopped (created or running) first")
	pos, err := parseVerb(fs, args, 1, 1, "sandboxrun [global flags] delete [--force] ID")
	if err != nil {
		return err
	}
	root, err := g.openRoot()
	if err != nil {
		return err
	}
	err = deleteContainer(g, root, pos[0], *force)
	if *force && errors.Is(err, ociruntime.ErrNotExist) {
		return nil
	}
	return err
}

// monitorGrace bounds the wait for a killed container's monitor to reap it
// and remove its cgroup.
const monitorGrace = 10 * time.Second

// deleteContainer removes a stopped container: it waits for its monitor,
// removes what is left of its cgroup, runs the poststop hooks and removes
// its directory. A container that is not stopped (creating, created or
// running) is refused unless force, which kills it first: the runtime-spec
// says deleting a container that is not stopped MUST generate an error and
// have no effect. (runc deletes a created container without --force; of
// its tested callers, podman and Slurm's oci.conf pass --force, and
// containerd's client refuses to delete a created task unless it kills it
// first, so that its shim's plain delete finds it stopped.)
func deleteContainer(g *ociGlobal, root *ociruntime.Root, id string, force bool) error {
	lk, rec, err := lockRecord(root, id)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	st := rec.Status()
	if st != ociruntime.StatusStopped && !force {
		return ociruntime.Fail("delete", id, "", "", "the container is "+st+", not stopped: kill it first, or delete --force", nil)
	}
	if st != ociruntime.StatusStopped {
		signalProc(rec.Init, unix.SIGKILL)
	}
	if rec.Init.Pid == 0 {
		// create died before the container was created: its monitor
		// (and with it whatever it started) goes.
		signalProc(rec.Monitor, unix.SIGKILL)
	}
	// The monitor reaps the init, removes the cgroup and ends the lease of
	// host ids; a monitor that was killed left them: taken here.
	for deadline := time.Now().Add(monitorGrace); rec.Monitor.Alive() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if rec.Monitor.Alive() {
		return ociruntime.Fail("delete", id, "", "", fmt.Sprintf("the monitor (pid %d) did not end within %s", rec.Monitor.Pid, monitorGrace), nil)
	}
	if err := removeCgroup(rec); err != nil {
		return err
	}
	if rec.Hooks != nil {
		if err := ociruntime.RunHooks(ociruntime.HookPoststop, rec.Hooks.Poststop, rec.SpecState(ociruntime.StatusStopped)); err != nil {
			g.logLine("warning", message(err))
			printErr(g.stdio.err, "warning: "+message(err))
		}
	}
	return lk.Remove()
}

// containerPids lists the container's processes: those in its cgroup, or,
// without one, those in its init's pid namespace (never the caller's own).
func containerPids(rec *ociruntime.Record) []int {
	if len(rec.Cgroup) > 0 {
		return cgroups.PathPids(rec.Cgroup)
	}
	return ociruntime.NamespacePids(rec.Init)
}

// removeCgroup removes what is left of the container's cgroup.
func removeCgroup(rec *ociruntime.Record) error {
	if len(rec.Cgroup) == 0 {
		return nil
	}
	if err := cgroups.RemovePaths(rec.Cgroup); err != nil {
		return ociruntime.Fail("delete", rec.ID, "remove cgroup", "", "", err)
	}
	return nil
}
