package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// exec runs one more process in a running container: in its namespaces
// and cgroup, with its process settings (capabilities, seccomp profile,
// no_new_privs, rlimits, Landlock, user) unless --process or the flags say
// otherwise, and never with more privilege than the container's process
// (docs/oci-runtime.md, "exec"). The start is a chain of three steps,
// each its own process (oci_execinit.go): __execjoin enters the cgroup
// and executes nsenter(1), which enters the namespaces (the user namespace
// first, as setns requires a single-threaded caller, which no Go program
// is), and executes this binary again as __execinit inside, which applies
// the settings and executes the command.

// execFlags are exec's flags, runc's names.
type execFlags struct {
	process       string
	tty           bool
	consoleSocket string
	pidFile       string
	detach        bool
	env           []string
	cwd           string
	user          string
	additionalGid []string
	noNewPrivs    bool
	caps          []string
	preserveFDs   int
}

func addExecFlags(fs *pflag.FlagSet, f *execFlags) {
	fs.StringVarP(&f.process, "process", "p", "", "process.json: the process to run (runtime-spec's process)")
	fs.BoolVarP(&f.tty, "tty", "t", false, "a pseudo-terminal (needs --console-socket)")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "unix socket to send the pty master to")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the process's pid to this file")
	fs.BoolVarP(&f.detach, "detach", "d", false, "return once the process runs")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "KEY=VALUE added to the container's environment")
	fs.StringVar(&f.cwd, "cwd", "", "working directory")
	fs.StringVarP(&f.user, "user", "u", "", "UID[:GID] inside the container")
	fs.StringArrayVarP(&f.additionalGid, "additional-gids", "g", nil, "additional gid")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.StringArrayVarP(&f.caps, "cap", "c", nil, "refused: exec never has more capabilities than the container's process")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "refused unless 0")
}

// execRequest is what __execinit reads on fd 3.
type execRequest struct {
	Opts     sandbox.Options `json:"opts"`
	Argv     []string        `json:"argv"`
	Filter   []byte          `json:"filter,omitempty"`
	Terminal bool            `json:"terminal,omitempty"`
}

func ociExec(g *ociGlobal, args []string) error {
	fs := verbFlags("exec")
	fs.SetInterspersed(false)
	var f execFlags
	addExecFlags(fs, &f)
	usage := "sandboxrun [global flags] exec [--process FILE | flags] ID [COMMAND [ARG...]]"
	pos, err := parseVerb(fs, args, 1, 1<<20, usage)
	if err != nil {
		return err
	}
	id := pos[0]
	root, err := g.openRoot()
	if err != nil {
		return err
	}
	lk, rec, err := lockRecord(root, id)
	if err != nil {
		return err
	}
	st := rec.Status()
	lk.Unlock()
	if st != ociruntime.StatusRunning && st != ociruntime.StatusCreated {
		return ociruntime.Fail("exec", id, "", "", "the container is "+st+": nothing to join", nil)
	}
	spec, err := readSpecFile(filepath.Join(root.Path(id), ociruntime.ConfigFile))
	if err != nil {
		return ociruntime.Fail("exec", id, "", "", err.Error(), nil)
	}
	proc, err := execProcess(spec.Process, &f, pos[1:])
	if err != nil {
		return ociruntime.Fail("exec", id, "", "", err.Error(), nil)
	}
	if proc.Terminal && f.consoleSocket == "" {
		return ociruntime.Fail("exec", id, "", "", "a terminal (--tty or process.terminal) needs --console-socket", nil)
	}
	req, err := execPlan(root, id, spec, proc)
	if err != nil {
		return ociruntime.Fail("exec", id, "", "", oneLine(err.Error()), nil)
	}
	return runExec(g, rec, req, &f)
}

// readSpecFile reads a config.json.
func readSpecFile(path string) (*specs.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// execProcess is the process to run: process.json's, or the container's
// changed by the flags. Neither may have more privilege than the
// container's process: capabilities no more than its own in every set,
// no_new_privs kept if it had it, rlimits no higher.
func execProcess(base *specs.Process, f *execFlags, argv []string) (*specs.Process, error) {
	if base == nil {
		base = &specs.Process{}
	}
	switch {
	case len(f.caps) > 0:
		return nil, fmt.Errorf("--cap: not supported: an exec'd process has the container's capabilities or fewer (give them in --process)")
	case f.preserveFDs != 0:
		return nil, fmt.Errorf("--preserve-fds: not supported")
	}
	var p specs.Process
	if f.process != "" {
		if len(argv) > 0 {
			return nil, fmt.Errorf("--process and a command: give one of the two")
		}
		b, err := os.ReadFile(f.process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", f.process, err)
		}
		if p.Capabilities == nil {
			p.Capabilities = base.Capabilities
		}
		if p.ApparmorProfile == base.ApparmorProfile {
			p.ApparmorProfile = ""
		}
	} else {
		if len(argv) == 0 {
			return nil, fmt.Errorf("no command: exec ID COMMAND [ARG...] or --process FILE")
		}
		p = *base
		p.Args = argv
		p.Env = append(slices.Clone(base.Env), f.env...)
		p.Terminal = f.tty
		p.ConsoleSize = nil
		if f.cwd != "" {
			p.Cwd = f.cwd
		}
		if f.user != "" {
			u, err := parseExecUser(f.user, f.additionalGid)
			if err != nil {
				return nil, err
			}
			p.User = u
		}
	}
	if f.tty {
		p.Terminal = true
	}
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("process.args: empty")
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	p.NoNewPrivileges = p.NoNewPrivileges || base.NoNewPrivileges || f.noNewPrivs
	if err := capsWithin(p.Capabilities, base.Capabilities); err != nil {
		return nil, err
	}
	if err := rlimitsWithin(p.Rlimits, base.Rlimits); err != nil {
		return nil, err
	}
	if p.Rlimits == nil {
		p.Rlimits = base.Rlimits
	}
	return &p, nil
}

// parseExecUser reads --user UID[:GID] and --additional-gids.
func parseExecUser(s string, extra []string) (specs.User, error) {
	var u specs.User
	us, gs, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return u, fmt.Errorf("--user %q: a numeric UID[:GID] (names are not looked up)", s)
	}
	u.UID = uint32(uid)
	if hasGid {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return u, fmt.Errorf("--user %q: a numeric UID[:GID]", s)
		}
		u.GID = uint32(gid)
	}
	for _, g := range extra {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return u, fmt.Errorf("--additional-gids %q: a numeric gid", g)
		}
		u.AdditionalGids = append(u.AdditionalGids, uint32(gid))
	}
	return u, nil
}

// capsWithin refuses a capability of want that the container's process
// (have) lacks, set by set.
func capsWithin(want, have *specs.LinuxCapabilities) error {
	if want == nil {
		return nil
	}
	if have == nil {
		have = &specs.LinuxCapabilities{}
	}
	for _, s := range []struct {
		name       string
		want, have []string
	}{
		{"bounding", want.Bounding, have.Bounding}, {"effective", want.Effective, have.Effective},
		{"inheritable", want.Inheritable, have.Inheritable}, {"permitted", want.Permitted, have.Permitted},
		{"ambient", want.Ambient, have.Ambient},
	} {
		for _, c := range s.want {
			if !slices.Contains(s.have, c) {
				return fmt.Errorf("process.capabilities.%s: %s is not in the container's process's %s set: an exec'd process never has more privilege than the container's", s.name, c, s.name)
			}
		}
	}
	return nil
}

// rlimitsWithin refuses a hard limit above the container's.
func rlimitsWithin(want, have []specs.POSIXRlimit) error {
	for _, w := range want {
		for _, h := range have {
			if h.Type == w.Type && w.Hard > h.Hard {
				return fmt.Errorf("process.rlimits: %s hard limit %d is above the container's %d", w.Type, w.Hard, h.Hard)
			}
		}
	}
	return nil
}

// execPlan runs the container's config with the exec'd process through
// the same translation as create (bundlePlan), so that the defaults,
// refusals and notes are the same, and keeps the settings of a process:
// the namespaces, mounts and cgroup are joined, not made.
func execPlan(root *ociruntime.Root, id string, spec *specs.Spec, proc *specs.Process) (*execRequest, error) {
	s := *spec
	terminal := proc.Terminal
	// The terminal is the exec's own business (__execinit makes it).
	p2 := *proc
	p2.Terminal = false
	s.Process = &p2
	b, err := json.Marshal(&s)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(root.Path(id), ".exec-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	pl, err := bundlePlan(tmp.Name(), false)
	if err != nil {
		return nil, err
	}
	o := pl.opts
	req := &execRequest{Argv: pl.argv, Terminal: terminal, Opts: sandbox.Options{
		User: o.User, Rlimits: o.Rlimits, Capabilities: o.Capabilities, NoNewPrivileges: o.NoNewPrivileges,
		OOMScoreAdj: o.OOMScoreAdj, Seccomp: o.Seccomp, Env: o.Env, ClearEnv: o.ClearEnv, Cwd: o.Cwd, Landlock: o.Landlock,
	}}
	if o.Seccomp != nil {
		prog, err := seccomp.CompileProgram(o.Seccomp, runtime.GOARCH)
		if err != nil {
			return nil, err
		}
		if req.Filter, err = prog.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return req, nil
}
