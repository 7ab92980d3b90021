package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/pidsig"
	"github.com/nsfork/nsfork/sandbox"
)

// A sandbox that shares sandboxrun's pid namespace (the mpi preset,
// --share pid) has no pid 1 whose death ends everything in it: a process
// that left the command's process group (setsid, a double fork) would
// outlive --kill-after. sandboxrun therefore becomes the sandbox's child
// subreaper, so that such orphans become its children, reaps the ones that
// exit, and kills every descendant when --kill-after fires.

// orphans adopts and reaps the sandbox's orphans.
type orphans struct {
	sandbox int // the sandbox's own pid: os/exec waits for it, never us
	sigs    chan os.Signal
	done    chan struct{}
}

// adoptOrphans makes sandboxrun the child subreaper when o shares its pid
// namespace; it returns nil otherwise (a pid namespace of its own ends
// with its pid 1).
func adoptOrphans(o *sandbox.Options) (*orphans, error) {
	if o.NewNamespace(specs.PIDNamespace) {
		return nil, nil
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("launcher: prctl PR_SET_CHILD_SUBREAPER: %s", errnoText(err.(syscall.Errno)))
	}
	return &orphans{sigs: make(chan os.Signal, 8), done: make(chan struct{})}, nil
}

// reap starts reaping every child but pid, the sandbox.
func (r *orphans) reap(pid int) {
	if r == nil {
		return
	}
	r.sandbox = pid
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go func() {
		for {
			r.reapOnce()
			select {
			case <-r.sigs:
			case <-r.done:
				return
			}
		}
	}()
}

func (r *orphans) stop() {
	if r == nil {
		return
	}
	signal.Stop(r.sigs)
	close(r.done)
}

// reapOnce reaps the zombie children other than the sandbox.
func (r *orphans) reapOnce() {
	for _, pid := range children(os.Getpid()) {
		if pid == r.sandbox {
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// killDescendants SIGKILLs every descendant of sandboxrun but the
// sandbox's own pid (killed by its caller), a few rounds, for processes
// that forked meanwhile. It runs before the sandbox is killed (its
// descendants are then in reach through it) and once more after it was
// reaped (what was being re-parented meanwhile is then a child of ours).
func (r *orphans) killDescendants() {
	if r == nil {
		return
	}
	descendants := func() []int {
		var all []int
		var walk func(int)
		walk = func(p int) {
			for _, c := range children(p) {
				if c != r.sandbox {
					all = append(all, c)
				}
				walk(c)
			}
		}
		walk(os.Getpid())
		return all
	}
	for range 4 {
		// A descendant reaped by its parent meanwhile may have left its
		// pid to another process: only those still listed once pinned.
		if pidsig.Listed(descendants, unix.SIGKILL) == 0 {
			return
		}
	}
}

// children lists the children of pid, from every one of its threads.
func children(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
