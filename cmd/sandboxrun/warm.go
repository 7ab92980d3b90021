package main

// --warm: the command runs in a sandbox a pool of the caller's set up
// ahead of it (package internal/warm). Each sandbox of the pool serves one
// command; a launch that finds no pool runs cold and starts one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/internal/warm"
	"github.com/nsfork/nsfork/sandbox"
)

// Environment variables of the warm path.
const (
	warmEnv     = "NSFORK_WARM"      // 1: as --warm
	warmSizeEnv = "NSFORK_WARM_SIZE" // sandboxes kept ready (default 2)
	warmIdleEnv = "NSFORK_WARM_IDLE" // a pool ends after this long unused (default 60s)
)

func addWarmFlag(fs *pflag.FlagSet) {
	fs.Bool("warm", false, "run in a sandbox set up ahead of time by a pool of yours for these options, in this job or session (NSFORK_WARM=1 as well); each sandbox serves one command. The first launch runs cold and starts the pool")
}

// warmWanted reports whether the warm path was asked for: --warm, or else
// NSFORK_WARM.
func warmWanted(f *runFlags) (bool, error) {
	if f.fs.Changed("warm") {
		return f.fs.GetBool("warm")
	}
	v, ok := os.LookupEnv(warmEnv)
	if !ok || v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 or 0", warmEnv, v)
	}
	return on, nil
}

// warmRefusal says why the warm path cannot give this launch what a cold
// one gives it, or "".
func warmRefusal(pl *plan, f *runFlags) string {
	switch {
	case pl.jobName != "":
		return "--warm and --share-ns contradict each other: a warm sandbox has namespaces of its own, a rank joins the job's"
	case f.report != "" || f.strict:
		return "--warm cannot be combined with --report or --strict (the sandbox was set up before the launch)"
	case !pl.opts.DieWithParent:
		return "--warm cannot be combined with --die-with-parent=false (a warm sandbox ends with its caller)"
	case !pl.opts.NewNamespace(specs.PIDNamespace):
		return "--warm needs a pid namespace of the sandbox's own (without one, what the command leaves behind would not end with it)"
	}
	return ""
}

// executeWarm runs the planned command in a warm sandbox.
func executeWarm(pl *plan, f *runFlags, io stdio) int {
	if msg := warmRefusal(pl, f); msg != "" {
		printErr(io.err, msg)
		return exitLauncher
	}
	size, idle, err := warmSettings()
	if err == nil {
		err = warm.PeerPidfdSupported()
	}
	if err != nil {
		printErr(io.err, err.Error())
		return exitLauncher
	}
	in, ok0 := io.in.(*os.File)
	out, ok1 := io.out.(*os.File)
	errf, ok2 := io.err.(*os.File)
	if !ok0 || !ok1 || !ok2 {
		printErr(io.err, "--warm: stdin, stdout and stderr must be files")
		return exitLauncher
	}
	canon, err := warm.Canonical(pl.opts)
	if err != nil {
		printErr(io.err, validationMessage(err))
		return exitLauncher
	}
	// The forwarded signals are registered first: a registration takes
	// over a signal this process ignores (SigIgn, in the caller's context),
	// and the pool checks the context again when the command comes.
	sigs := pl.signals.Channel()
	ctx, err := warm.CallerContext(os.Getpid())
	if err != nil {
		printErr(io.err, err.Error())
		return exitLauncher
	}
	// The physical path: what the child's setup sees (a symbolic link in
	// $PWD may lead elsewhere in the view).
	wd, _ := os.Readlink("/proc/self/cwd")
	// Where the view hides the working directory, the pool is made in it
	// and for it alone (warm.CwdKeyed).
	cwdKeyed := warm.CwdKeyed(pl.opts, wd)
	if cwdKeyed {
		cwd, err := warm.CwdContext(os.Getpid())
		if err != nil {
			printErr(io.err, err.Error())
			return exitLauncher
		}
		ctx = append(ctx, cwd...)
	}
	dir, err := warm.Dir()
	if err != nil {
		printErr(io.err, err.Error())
		return exitLauncher
	}
	paths, err := warm.PathsFor(dir, warm.Key(canon, ctx))
	if err != nil {
		printErr(io.err, err.Error())
		return exitLauncher
	}
	cold := func() int {
		// No pool (none yet, or its server ended or died): start one,
		// then run this command cold.
		if err := warm.Spawn(dir, paths, canon, size, idle, cwdKeyed); err != nil {
			printErr(io.err, err.Error())
			return exitLauncher
		}
		return executeCold(pl, f, io)
	}
	conn, err := warm.Dial(paths.Socket)
	if errors.Is(err, warm.ErrNoServer) {
		return cold()
	}
	if err != nil {
		printErr(io.err, err.Error())
		return exitLauncher
	}
	defer conn.Close()

	req := &warm.Request{Options: canon, Argv: pl.argv, Env: os.Environ(), Dir: wd}
	if _, err := conn.Start(req, in, out, errf); err != nil {
		if code, msg, ok := warm.Outcome(err); ok {
			printErr(io.err, msg)
			return code
		}
		if errors.Is(err, warm.ErrNoServer) {
			return cold()
		}

		printErr(io.err, err.Error())
		return exitLauncher
	}
	sup := supervise(sigs, f, func(s os.Signal) { conn.Signal(s) }, func() { conn.Kill() })
	code, msg, err := conn.Wait()
	sup.stop()
	if errors.Is(err, warm.ErrRunCold) {
		// Nothing ran: the pool's sandbox could not take this working
		// directory where a cold one keeps it.
		conn.Close()
		return executeCold(pl, f, io)
	}
	if err != nil {
		code, msg = exitLauncher, err.Error()
	}
	if sup.timedOut.Load() && code != exitLauncher {
		if sup.killed.Load() {
			code, msg = 128+int(syscall.SIGKILL), fmt.Sprintf("timed out after %s; killed after another %s", f.timeout, f.killAft)
		} else {
			code, msg = exitTimeout, ""
		}
	}
	printErr(io.err, msg)
	return code
}

// warmSettings reads NSFORK_WARM_SIZE and NSFORK_WARM_IDLE.
func warmSettings() (int, time.Duration, error) {
	size, idle := 2, 60*time.Second
	if v := os.Getenv(warmSizeEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return 0, 0, fmt.Errorf("%s=%q: want a number of sandboxes from 1 to 64", warmSizeEnv, v)
		}
		size = n
	}
	if v := os.Getenv(warmIdleEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, 0, fmt.Errorf("%s=%q: want a positive duration such as 60s", warmIdleEnv, v)
		}
		idle = d
	}
	return size, idle, nil
}

// serveWarm is a pool's server, started by warm.Spawn: it returns the
// process's exit code.
func serveWarm() int {
	logger := log.New(os.Stderr, "sandboxrun warm: ", log.LstdFlags)
	s, err := warm.SpawnedServer()
	if err != nil {
		logger.Print(err)
		return exitLauncher
	}
	var o sandbox.Options
	if err := json.Unmarshal(s.Canonical, &o); err != nil {
		logger.Printf("options: %v", err)
		return exitLauncher
	}
	canon, err := warm.Canonical(&o)
	if err != nil || !bytes.Equal(canon, s.Canonical) {
		logger.Printf("options: not canonical or not valid (%v)", err)
		return exitLauncher
	}
	s.Options, s.Log = &o, logger
	s.Outcome = func(err error, st *os.ProcessState) (int, string) { return outcome(err, st) }
	// Ended by a signal (a batch system's SIGTERM at the job's end, ^C),
	// the server stops as at its idle timeout: the pool kills and reaps
	// its idle sandboxes and removes their cgroups, which the signal's
	// default action (the process gone at once) left behind.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	if err := s.Serve(ctx); err != nil && !errors.Is(err, warm.ErrServing) {
		logger.Print(err)
		return exitLauncher
	}
	return 0
}
