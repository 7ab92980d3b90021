package main

// --share-ns: ranks of one job on one node in one shared set of user, pid,
// mount and ipc namespaces (package jobns), as Apptainer's --sharens.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/jobns"
	"github.com/nsfork/nsfork/sandbox"
)

// shareFromEnv is the --share-ns value that takes the job's name from the
// launcher's environment (jobns.NameFromEnv).
const shareFromEnv = "job"

func addShareFlag(fs *pflag.FlagSet, f *runFlags) {
	fs.StringVar(&f.shareNS, "share-ns", "", "join the job namespace set `NAME` (new user, pid, mount and ipc namespaces shared by every sandboxrun --share-ns NAME of this user on this node; \"job\": named after PMIX_NAMESPACE or SLURM_JOB_ID.SLURM_STEP_ID)")
}

// shareNamespaces completes a plan for --share-ns: the job's sandbox
// creates new user, pid, mount and ipc namespaces, which its ranks share.
// It runs after the preset was finished and checked: a pid namespace is
// not one per rank here, and CMA between ranks stays on (one user
// namespace), so the preset's OMPI_MCA_btl_vader_single_copy_mechanism=none
// is taken out again unless --env set it.
func (f *runFlags) shareNamespaces(p *plan) error {
	if f.shareNS == "" {
		return nil
	}
	name := f.shareNS
	if name == shareFromEnv {
		n, err := jobns.NameFromEnv(os.Environ())
		if err != nil {
			return fmt.Errorf("--share-ns %s: %w", shareFromEnv, err)
		}
		name = n
	} else if err := jobns.CheckName(name); err != nil {
		return fmt.Errorf("--share-ns: %w", err)
	}
	switch {
	case f.report != "":
		return errors.New("--share-ns cannot be combined with --report (the job's sandbox is set up once, by its first rank)")
	case f.strict:
		return errors.New("--share-ns cannot be combined with --strict (the job's sandbox is set up once, by its first rank)")
	case f.changed("die-with-parent") && !f.dieWithParent:
		return errors.New("--share-ns cannot be combined with --die-with-parent=false (a rank always ends with its sandboxrun)")
	}
	for _, s := range f.share {
		t := shareNames.Value(strings.ToLower(s))
		if slices.Contains(jobns.Required, t) {
			return fmt.Errorf("--share-ns and --share %s contradict each other (a job has new user, pid, mount and ipc namespaces)", s)
		}
	}
	opts := p.opts
	if !opts.NewNamespace(specs.UserNamespace) {
		// Root with the mpi preset: the identity map keeps every id.
		opts.WithNamespaces(specs.UserNamespace)
		if len(opts.UIDMappings) == 0 && len(opts.GIDMappings) == 0 {
			if !sandbox.RootInInitialUserNS() {
				return errors.New("--share-ns: the job needs a user namespace and no uid map was given")
			}
			all := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
			opts.UIDMappings, opts.GIDMappings = all, all
		}
	}
	opts.WithNamespaces(specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace)
	if f.preset == "mpi" {
		k, _, _ := strings.Cut(cmaOff, "=")
		userSet := slices.ContainsFunc(f.env, func(e string) bool { return e == k || strings.HasPrefix(e, k+"=") })
		if !userSet {
			opts.Env = slices.DeleteFunc(opts.Env, func(e string) bool { return e == cmaOff })
		}
	}
	if err := jobns.CheckOptions(opts); err != nil {
		return fmt.Errorf("--share-ns: %w", err)
	}
	p.jobName = name
	p.notes = append(p.notes, "share-ns: job "+name)
	return nil
}

// shareWarnings drops the MPI warning about a pid namespace per rank: with
// --share-ns the ranks share one.
type shareWarnings struct {
	w interface{ Write([]byte) (int, error) }
}

func (s shareWarnings) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("a pid namespace per rank")) {
		return len(b), nil
	}
	return s.w.Write(b)
}

// executeShared runs the command as a rank of the job p.jobName and
// returns sandboxrun's exit code.
func executeShared(p *plan, f *runFlags, io stdio) int {
	sigs := make(chan os.Signal, 32)
	var relay []os.Signal
	for _, s := range jobns.Relayed {
		relay = append(relay, s)
	}
	signal.Notify(sigs, relay...)
	defer signal.Stop(sigs)

	job := &jobns.Job{Name: p.jobName, Options: p.opts}
	spec := jobns.Spec{Argv: p.argv, Env: jobns.RankEnv(p.opts, os.Environ()), Cwd: p.opts.Cwd,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	rank, err := job.Start(context.Background(), spec)
	if err != nil {
		return shareFailed(io, p.jobName, err)
	}
	if err := protectLauncher(); err != nil {
		rank.Kill()
		printErr(io.err, err.Error())
		return exitLauncher
	}
	sup := supervise(sigs, f, func(s os.Signal) { rank.Signal(s.(syscall.Signal)) }, func() { rank.Kill() })
	st, err := rank.Wait()
	sup.stop()
	switch {
	case sup.killed.Load():
		printErr(io.err, fmt.Sprintf("timed out after %s; killed after another %s", f.timeout, f.killAft))
		return 128 + int(syscall.SIGKILL)
	case err != nil:
		return shareFailed(io, p.jobName, err)
	case sup.timedOut.Load():
		return exitTimeout
	}
	if st.Signal == syscall.SIGSYS {
		printErr(io.err, "the command was killed by SIGSYS: a system call the seccomp filter denies")
	}
	return st.ExitCode()
}

func shareFailed(io stdio, name string, err error) int {
	code := exitLauncher
	var se *sandbox.SetupError
	if errors.As(err, &se) {
		code = se.ExitCode()
	}
	printErr(io.err, oneLine(fmt.Sprintf("--share-ns %s: %v", name, err)))
	return code
}

// finishPresetShared is finishPreset for --share-ns: the warning about a
// pid namespace per rank does not apply.
func (f *runFlags) finishPresetShared(p *plan) error {
	return finishPreset(p, f.preset, f.seccompProfile, f.strict, os.Environ(), shareWarnings{os.Stderr})
}
