package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

func buildArgs(t *testing.T, args ...string) (*plan, error) {
	t.Helper()
	f := addRunFlags(newFlagSet())
	if err := f.fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.build([]string{"true"})
}

func TestPresetMPI(t *testing.T) {
	for _, rootless := range []string{"--rootless=false", "--rootless=true"} {
		pl, err := buildArgs(t, "--preset", "mpi", rootless)
		if err != nil {
			t.Fatalf("%s: %v", rootless, err)
		}
		o := pl.opts
		for _, n := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace} {
			if _, ok := o.Namespace(n); ok {
				t.Errorf("%s: a %s namespace", rootless, n)
			}
		}
		// Every caller gets a user namespace: root's ranks are never host
		// root (a non-root caller needs it for the mount namespace).
		if !o.NewNamespace(specs.UserNamespace) {
			t.Errorf("%s: user namespace %v", rootless, o.NewNamespace(specs.UserNamespace))
		}
		if pl.seccomp != "default+mpi" || o.Seccomp == nil {
			t.Errorf("%s: seccomp %q", rootless, pl.seccomp)
		}
		if ps := sandbox.CheckMPI(o, nil); len(ps) != 0 {
			t.Errorf("%s: %v", rootless, ps)
		}
		if o.NewNamespace(specs.UserNamespace) && !slices.Contains(o.Env, cmaOff) {
			t.Errorf("rootless: %s not set: %q", cmaOff, o.Env)
		}
	}
	// The preset refuses what breaks MPI, whatever the environment.
	for _, bad := range [][]string{
		{"--unshare-pid"}, {"--unshare-net"}, {"--dev"}, {"--tmpfs", "/dev/shm"},
		{"--seccomp", "unconfined", "--rootfs", "/"},
	} {
		_, err := buildArgs(t, append([]string{"--preset", "mpi"}, bad...)...)
		if bad[0] == "--seccomp" {
			if err != nil {
				t.Errorf("%q: %v", bad, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "--preset mpi:") {
			t.Errorf("--preset mpi %q: err %v, want the MPI problem", bad, err)
		}
	}
	if _, err := buildArgs(t, "--preset", "nope"); err == nil || !strings.Contains(err.Error(), "no such preset") {
		t.Errorf("unknown preset: %v", err)
	}
	if pl, err := buildArgs(t, "--preset", "default", "--rootless=false"); err != nil || !pl.opts.NewNamespace(specs.PIDNamespace) {
		t.Errorf("--preset default: %v", err)
	}
}

func TestFinishPresetUnderLauncher(t *testing.T) {
	srun := []string{"SLURM_STEP_NUM_TASKS=2", "SLURM_PROCID=1", "PMIX_RANK=1", "PMIX_NAMESPACE=slurm.pmix.7.0", "PATH=/bin"}
	newPlan := func(o *sandbox.Options) *plan { return &plan{opts: o} }

	// Without the preset: warnings, and --strict makes them errors.
	var w bytes.Buffer
	pl := newPlan(sandbox.Root())
	if err := finishPreset(pl, "", "default", false, srun, &w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.String(), "warning: running as an MPI rank under srun") || !strings.Contains(w.String(), "pid namespace") || len(pl.notes) == 0 {
		t.Errorf("warnings %q notes %q", w.String(), pl.notes)
	}
	if err := finishPreset(newPlan(sandbox.Root()), "", "default", true, srun, &w); err == nil || !strings.HasPrefix(err.Error(), "strict:") {
		t.Errorf("--strict: %v", err)
	}
	// Not a rank: nothing to say.
	w.Reset()
	if err := finishPreset(newPlan(sandbox.Root()), "", "default", true, []string{"SLURM_STEP_NUM_TASKS=1"}, &w); err != nil || w.Len() > 0 {
		t.Errorf("single task: %v %q", err, w.String())
	}

	// --clearenv with the preset keeps the launcher's variables.
	o := sandbox.MPI()
	o.ClearEnv = true
	o.Env = []string{"PMIX_RANK=9"}
	pl = newPlan(o)
	if err := finishPreset(pl, "mpi", "default", false, srun, &w); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SLURM_PROCID=1", "PMIX_NAMESPACE=slurm.pmix.7.0", "PMIX_RANK=9"} {
		if !slices.Contains(pl.opts.Env, want) {
			t.Errorf("env %q lacks %s", pl.opts.Env, want)
		}
	}
	if slices.Contains(pl.opts.Env, "PMIX_RANK=1") || slices.Contains(pl.opts.Env, "PATH=/bin") {
		t.Errorf("env %q: --env must win, and only the launcher's variables pass", pl.opts.Env)
	}
}

func TestPsecNative(t *testing.T) {
	// The whole job in one sandbox, root inside a user namespace: PMIx
	// must not use munge, which sees the host uid.
	remapped := func() *sandbox.Options {
		o := sandbox.Rootless()
		o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		return o
	}
	pl := &plan{opts: remapped(), argv: []string{"/usr/bin/mpirun", "-np", "2", "./app"}}
	if err := finishPreset(pl, "", "default", false, nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pl.opts.Env, "PMIX_MCA_psec=native") {
		t.Errorf("env %q", pl.opts.Env)
	}
	// Not an MPI launcher: the environment is left alone.
	pl = &plan{opts: remapped(), argv: []string{"/bin/sh"}}
	finishPreset(pl, "", "default", false, nil, &bytes.Buffer{})
	if len(pl.opts.Env) != 0 {
		t.Errorf("env %q set for a command that is no MPI launcher", pl.opts.Env)
	}
	// Set by the user: kept.
	pl = &plan{opts: remapped(), argv: []string{"mpirun"}}
	finishPreset(pl, "", "default", false, []string{"PMIX_MCA_psec=munge"}, &bytes.Buffer{})
	if slices.Contains(pl.opts.Env, "PMIX_MCA_psec=native") {
		t.Error("overrode the user's PMIX_MCA_psec")
	}
	// Mapped to itself, or no user namespace: nothing.
	for _, o := range []*sandbox.Options{sandbox.MPI(), sandbox.Root()} {
		pl = &plan{opts: o}
		finishPreset(pl, "", "default", false, nil, &bytes.Buffer{})
		if slices.Contains(pl.opts.Env, "PMIX_MCA_psec=native") {
			t.Errorf("set for %v", o.Namespaces)
		}
	}
}
