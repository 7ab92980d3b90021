package main

// Presets (--preset) and the MPI checks: what keeps an MPI rank or a Slurm
// task at shared-memory speed, and what is reported when the options would
// break it.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nsfork/nsfork/sandbox"
)

// presetNames are the values --preset takes.
var presetNames = []string{"default", "mpi"}

// cmaOff is set for rootless ranks: OpenMPI turns CMA off between user
// namespaces anyway, and says so in a warning on every run.
const cmaOff = "OMPI_MCA_btl_vader_single_copy_mechanism=none"

// presetOptions returns the Options --preset names, or nil for the
// built-in default (Rootless or Root, by --rootless).
func (f *runFlags) presetOptions() (*sandbox.Options, error) {
	switch f.preset {
	case "", "default":
		return nil, nil
	case "mpi":
		o := sandbox.MPI()
		// The rank writes its working directory and $TMPDIR (OpenMPI's
		// session directories); the rest of the host stays read-only.
		for _, d := range []string{os.Getenv("TMPDIR"), workDir()} {
			if d != "" && d != "/" && filepath.IsAbs(d) {
				o.WithBinds(filepath.Clean(d))
			}
		}
		return o, nil
	}
	return nil, fmt.Errorf("--preset %q: no such preset (%s)", f.preset, strings.Join(presetNames, ", "))
}

// finishPreset completes what the preset and the flags built: for --preset
// mpi the seccomp profile allows process_vm_readv/writev, the launcher's
// variables survive --clearenv, and every MPI problem of the options is an
// error; without it, the MPI problems are warnings on stderr when
// sandboxrun runs as a rank under an MPI launcher (errors with --strict).
func (f *runFlags) finishPreset(p *plan) error {
	return finishPreset(p, f.preset, f.seccompProfile, f.strict, os.Environ(), os.Stderr)
}

func finishPreset(p *plan, preset, seccompName string, strict bool, environ []string, warn interface{ Write([]byte) (int, error) }) error {
	opts := p.opts
	mpi := preset == "mpi"
	if mpi {
		if (seccompName == "" || seccompName == "default") && opts.Seccomp != nil {
			opts.Seccomp = sandbox.MPISeccomp(opts.Seccomp)
			p.seccomp = "default+mpi"
		}
		have := func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return slices.ContainsFunc(opts.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		}
		if opts.ClearEnv {
			for _, e := range sandbox.MPIEnv(environ) {
				if !have(e) {
					opts.Env = append(opts.Env, e)
				}
			}
		}
		k, _, _ := strings.Cut(cmaOff, "=")
		_, set := envLookup(environ, k)
		if opts.NewNamespace("user") && !have(cmaOff) && !set {
			opts.Env = append(opts.Env, cmaOff)
		}
	}
	launcher, underLauncher := sandbox.MPILauncher(environ)
	if !underLauncher && remapped(opts) && startsMPI(p.argv) {
		// A whole MPI job in one sandbox, as another uid inside than
		// outside: munge stamps the host uid, which PMIx inside then
		// refuses; the native check (SO_PEERCRED) sees the inside uid on
		// both ends.
		if _, set := envLookup(append(slices.Clone(environ), opts.Env...), psecKey); !set {
			opts.Env = append(opts.Env, psecKey+"=native")
			p.notes = append(p.notes, "environment: "+psecKey+"=native (the uid inside is not the host uid, so munge authentication of PMIx would fail)")
		}
	}
	problems := sandbox.CheckMPI(opts, environ)
	if len(problems) == 0 {
		return nil
	}
	var msgs []string
	for _, pr := range problems {
		msgs = append(msgs, pr.String())
	}
	if mpi {
		return errors.New("--preset mpi: " + strings.Join(msgs, "; "))
	}
	if !underLauncher {
		return nil
	}
	if strict {
		return fmt.Errorf("strict: running as an MPI rank under %s: %s", launcher, strings.Join(msgs, "; "))
	}
	for _, m := range msgs {
		p.notes = append(p.notes, "mpi: "+m)
		fmt.Fprintf(warn, "sandboxrun: warning: running as an MPI rank under %s: %s (use --preset mpi)\n", launcher, m)
	}
	return nil
}

const psecKey = "PMIX_MCA_psec"

// startsMPI reports whether the command is an MPI launcher (the whole job
// in one sandbox), the only case that needs PMIx's native security.
func startsMPI(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	switch filepath.Base(argv[0]) {
	case "mpirun", "mpiexec", "orterun", "prterun", "prun", "oshrun", "srun":
		return true
	}
	return false
}

// remapped reports whether the command runs in a new user namespace as a
// uid that is not its host uid (the defaults: root inside).
func remapped(o *sandbox.Options) bool {
	if !o.NewNamespace("user") {
		return false
	}
	for _, m := range o.UIDMappings {
		if o.User.UID >= m.ContainerID && o.User.UID-m.ContainerID < m.Size {
			return m.HostID+o.User.UID-m.ContainerID != o.User.UID
		}
	}
	return false
}

func envLookup(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// workDir is the caller's working directory, or "" when it has none.
func workDir() string {
	d, err := os.Getwd()
	if err != nil {
		return ""
	}
	return d
}
