package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// execute runs the planned command and returns sandboxrun's exit code.
func execute(pl *plan, f *runFlags, io stdio) int {
	readonlyLauncher(pl.opts)
	switch on, err := warmWanted(f); {
	case err != nil:
		printErr(io.err, err.Error())
		return exitLauncher
	case on:
		return executeWarm(pl, f, io)
	}
	if pl.jobName != "" {
		return executeShared(pl, f, io)
	}
	return executeCold(pl, f, io)
}

// executeCold runs the planned command in a sandbox started for it.
func executeCold(pl *plan, f *runFlags, io stdio) int {
	if f.strict {
		if msg := strictBefore(pl); msg != "" {
			printErr(io.err, "strict: "+msg)
			return exitLauncher
		}
	}
	// Signals that arrive while the sandbox starts are kept and passed on
	// once it exists; none of them ends sandboxrun itself.
	sigs := pl.signals.Channel()

	cfg := &fork.Config{Stdin: io.in, Stdout: io.out, Stderr: io.err, KeepAlive: !pl.opts.DieWithParent}
	// The sandbox's record of what it applied arrives after its setup and
	// before the command starts, which waits for the verdict: the report is
	// written, and --strict refuses, before anything of the command runs.
	var rep *reporter
	var strictMsg atomic.Pointer[string]
	if f.report != "" || f.strict {
		cfg.OnApplied = func(p *fork.Process, applied *sandbox.Applied) error {
			rep = newReporter(pl, f, p, io.out)
			rep.build(applied)
			if f.report != "" {
				if err := rep.write(); err != nil {
					fmt.Fprintf(os.Stderr, "sandboxrun: --report: %v\n", err)
				}
			}
			if s := rep.doc.Strict; s != nil && !s.OK {
				msg := strings.Join(s.Missing, "; ")
				strictMsg.Store(&msg)
				return fmt.Errorf("strict: %s", msg)
			}
			return nil
		}
	}
	orph, err := adoptOrphans(pl.opts)
	if err != nil {
		printErr(io.err, err.Error())
		return exitLauncher
	}
	p, err := cfg.StartCommand(context.Background(), pl.opts, pl.argv...)
	if err != nil {
		printErr(io.err, message(err))
		return exitLauncher
	}
	orph.reap(p.Pid)
	defer orph.stop()
	if err := protectLauncher(); err != nil {
		killAll(p)
		p.Wait()
		printErr(io.err, err.Error())
		return exitLauncher
	}

	sup := supervise(sigs, f, func(s os.Signal) { p.Signal(s) }, func() { orph.killDescendants(); killAll(p) })
	werr := p.Wait()
	sup.stop()
	if sup.killed.Load() {
		// What the sandbox's processes left behind while they were being
		// killed is ours now.
		orph.killDescendants()
	}

	code, msg := outcome(werr, p.ProcessState)
	if m := strictMsg.Load(); m != nil {
		code, msg = exitLauncher, "strict: "+*m+" (the command was not started)"
	} else if f.strict && rep == nil && code != exitLauncher {
		code, msg = exitLauncher, "strict: the sandbox sent no record of what it applied"
	}
	if rep == nil {
		rep = newReporter(pl, f, p, io.out)
	}
	if sup.timedOut.Load() && code != exitLauncher {
		if sup.killed.Load() {
			code, msg = 128+int(syscall.SIGKILL), fmt.Sprintf("timed out after %s; killed after another %s", f.timeout, f.killAft)
		} else {
			code, msg = exitTimeout, ""
		}
	}
	if rep != nil {
		if err := rep.finish(werr, code); err != nil && msg == "" {
			msg = "--report: " + err.Error()
			if code == 0 {
				code = exitLauncher
			}
		}
	}
	printErr(io.err, msg)
	return code
}

// killAll kills the sandbox: in a new pid namespace killing its pid 1 kills
// everything in it; otherwise the command leads its own session.
func killAll(p *fork.Process) {
	syscall.Kill(-p.Pid, syscall.SIGKILL)
	p.Kill()
}

// strictBefore is what --strict can refuse before anything starts: asks
// that would otherwise be met only in part.
func strictBefore(pl *plan) string {
	if l := pl.opts.Landlock; l != nil && l.BestEffort {
		return "Landlock best effort (--landlock-best-effort or the config) may leave rules unenforced"
	}
	if pl.opts.CgroupsBestEffort {
		return "cgroup best effort may leave limits unapplied"
	}
	if pl.terminal && !isTerminal(0) {
		return "the config asks for process.terminal and stdin is not a terminal (sandboxrun allocates no pty; it passes its own terminal on)"
	}
	return ""
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
