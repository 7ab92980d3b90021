package main

// The translation of the run command's flags into sandbox Options: the
// order in which they apply on top of a preset or an OCI config.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/earlysig"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// plan is a resolved command line.
type plan struct {
	opts     *sandbox.Options
	argv     []string
	seccomp  string // the profile's name, for the report
	terminal bool   // the OCI config asked for process.terminal
	notes    []string
	jobName  string // --share-ns: the job namespace set to join
	// signals: the forwarded signals, registered while the plan is
	// built (runCommand).
	signals *earlysig.Set
}

// dropRootAmbient removes ambient capabilities from an OCI config whose
// process runs as uid 0. runc spec lists ambient capabilities that are not
// inheritable, which the kernel cannot raise; for uid 0 the kernel clears
// the ambient set at execve anyway (a root process's exec is privileged), so
// removing them changes nothing the command can see. For another uid they
// stay, and Validate refuses them.
func dropRootAmbient(o *sandbox.Options) []string {
	c := o.Capabilities
	if c == nil || o.User.UID != 0 || len(c.Ambient) == 0 {
		return nil
	}
	var notes []string
	kept := c.Ambient[:0:0]
	for _, n := range c.Ambient {
		if slices.Contains(c.Inheritable, n) && slices.Contains(c.Permitted, n) {
			kept = append(kept, n)
			continue
		}
		notes = append(notes, "capabilities.ambient "+n+": dropped (uid 0 loses ambient capabilities at execve; it is not inheritable, so it could not be raised)")
	}
	c.Ambient = kept
	return notes
}

// build turns the flags and the command into Options. Errors name the flag.
func (f *runFlags) build(args []string) (*plan, error) {
	p := &plan{}
	var opts *sandbox.Options
	var specArgs []string
	oci := f.config != "" || f.bundle != ""
	switch {
	case f.config != "" && f.bundle != "":
		return nil, errors.New("--config and --bundle: give one")
	case f.bundle != "":
		o, a, err := sandbox.FromBundle(f.bundle)
		if err != nil {
			return nil, fmt.Errorf("--bundle %s: %w", f.bundle, err)
		}
		opts, specArgs = o, a
		p.terminal = specTerminal(filepath.Join(f.bundle, "config.json"))
		p.notes = append(p.notes, ociDefaultNotes(filepath.Join(f.bundle, "config.json"))...)
	case f.config != "":
		o, a, err := readConfig(f.config)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %w", f.config, err)
		}
		opts, specArgs = o, a
		p.terminal = specTerminal(f.config)
		p.notes = append(p.notes, ociDefaultNotes(f.config)...)
	default:
		o, err := f.presetOptions()
		switch {
		case err != nil:
			return nil, err
		case o != nil:
			opts = o
		case f.rootless:
			opts = sandbox.Rootless()
		default:
			// As root: ids 0-65535 inside map onto a range of unprivileged
			// host ids leased for this sandbox, never onto host root.
			opts = sandbox.Root()
		}
	}
	if err := f.checkHostRoot(opts, oci); err != nil {
		return nil, err
	}
	if oci && sandbox.RootInInitialUserNS() && !f.hostRoot && !opts.NewNamespace(specs.UserNamespace) && !hasNamespacePath(opts, specs.UserNamespace) {
		// A config without a user namespace would run as host root, as
		// runc runs it: here it gets one, with a leased range of
		// unprivileged host ids. --host-root keeps runc's behaviour.
		opts.WithNamespaces(specs.UserNamespace)
		p.notes = append(p.notes, "linux.namespaces: a user namespace was added, with a range of unprivileged host ids for ids 0-65535 inside (--host-root runs the config as host root, as runc does)")
	}
	// Trusted code only: root of a user namespace that maps host root
	// (unshare -r run by host root) keeps its own id 0, host root's.
	opts.TrustedHostRoot = f.hostRoot
	if f.hostRoot && !oci && sandbox.RootInInitialUserNS() {
		// Trusted code only: host root inside a user namespace, so that
		// capabilities still count only over the sandbox's own namespaces
		// (--share user: no user namespace at all).
		all := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
		opts.UIDMappings, opts.GIDMappings, opts.IDRangeKey = all, all, ""
		opts.User.UID, opts.User.GID = 0, 0
	}
	if oci && f.changed("preset") {
		return nil, errors.New("--preset cannot be combined with --config or --bundle (the config decides)")
	}
	if oci {
		p.notes = append(p.notes, dropRootAmbient(opts)...)
		if n := dropEmptyResources(opts); n != "" {
			p.notes = append(p.notes, n)
		}
	}
	if oci && f.changed("rootless") {
		return nil, errors.New("--rootless chooses a preset and cannot be combined with --config or --bundle (the config's namespaces and maps decide)")
	}
	p.argv = args
	if len(p.argv) == 0 {
		p.argv = specArgs
	}
	if len(p.argv) == 0 {
		return nil, errors.New("no command: sandboxrun [flags] -- COMMAND [ARG...]")
	}

	if err := f.namespaces(opts); err != nil {
		return nil, err
	}
	if err := f.identity(opts, oci); err != nil {
		return nil, err
	}
	if f.changed("hostname") {
		opts.Hostname = f.hostname
	}
	if f.changed("domainname") {
		opts.Domainname = f.domainname
	}
	for _, s := range f.sysctls {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--sysctl %q: want KEY=VALUE", s)
		}
		if opts.Sysctl == nil {
			opts.Sysctl = map[string]string{}
		}
		opts.Sysctl[k] = v
	}
	if err := f.filesystem(opts, oci); err != nil {
		return nil, err
	}
	for _, s := range f.rlimits {
		r, err := parseRlimit(s)
		if err != nil {
			return nil, fmt.Errorf("--rlimit: %w", err)
		}
		opts.Rlimits = slices.DeleteFunc(opts.Rlimits, func(x specs.POSIXRlimit) bool { return x.Type == r.Type })
		opts.Rlimits = append(opts.Rlimits, r)
	}
	if err := f.capabilities(opts); err != nil {
		return nil, err
	}
	if !oci || f.changed("no-new-privs") {
		opts.NoNewPrivileges = f.noNewPrivs
	}
	if !oci || f.changed("seccomp") {
		var caps []string
		if opts.Capabilities != nil {
			caps = opts.Capabilities.Effective
		}
		prof, err := seccomp.Named(f.seccompProfile, caps, runtime.GOARCH)
		if err != nil {
			return nil, fmt.Errorf("--seccomp %s: %w", f.seccompProfile, err)
		}
		opts.Seccomp = prof
		p.seccomp = f.seccompProfile
	} else if opts.Seccomp != nil {
		p.seccomp = "config"
	} else {
		p.seccomp = "unconfined"
	}
	if len(f.landlockRO)+len(f.landlockRW) > 0 || f.landlockBest {
		if opts.Landlock == nil {
			opts.Landlock = &sandbox.Landlock{}
		}
		for _, l := range []struct {
			in  []string
			out *[]string
		}{{f.landlockRO, &opts.Landlock.ReadOnly}, {f.landlockRW, &opts.Landlock.ReadWrite}} {
			for _, s := range l.in {
				a, err := filepath.Abs(s)
				if err != nil {
					return nil, err
				}
				*l.out = append(*l.out, a)
			}
		}
		opts.Landlock.BestEffort = f.landlockBest
	}
	if f.clearEnv {
		opts.ClearEnv = true
	}
	for _, e := range f.env {
		k, _, ok := strings.Cut(e, "=")
		if !ok {
			v, set := os.LookupEnv(e)
			if !set {
				continue // as docker run --env KEY does
			}
			e = k + "=" + v
		}
		opts.Env = slices.DeleteFunc(opts.Env, func(x string) bool { return strings.HasPrefix(x, k+"=") })
		opts.Env = append(opts.Env, e)
	}
	if f.changed("chdir") {
		opts.Cwd = f.chdir
	}
	if err := f.resources(opts); err != nil {
		return nil, err
	}
	if !oci || f.changed("die-with-parent") {
		opts.DieWithParent = f.dieWithParent
	}
	if f.killAft > 0 && f.timeout <= 0 {
		return nil, errors.New("--kill-after needs --timeout")
	}
	if f.timeout < 0 || f.killAft < 0 {
		return nil, errors.New("--timeout and --kill-after must be positive durations")
	}
	p.opts = opts
	finish := f.finishPreset
	if f.shareNS != "" {
		finish = f.finishPresetShared
	}
	if err := finish(p); err != nil {
		return nil, err
	}
	if err := f.shareNamespaces(p); err != nil {
		return nil, err
	}
	return p, nil
}

func (f *runFlags) filesystem(opts *sandbox.Options, oci bool) error {
	if !oci && (f.shareFS || f.rootfs != "") {
		// The host's file system as it is (trusted code only), or a root
		// file system of the caller's: the default view goes.
		opts.HostFS()
	}
	if f.rootfs != "" {
		dir, err := filepath.Abs(f.rootfs)
		if err != nil {
			return fmt.Errorf("--rootfs: %w", err)
		}
		opts.Root = &specs.Root{Path: dir}
		opts.Mounts = slices.DeleteFunc(opts.Mounts, func(m specs.Mount) bool { return m.Type == "proc" && m.Destination == "/proc" })
	}
	if f.readOnly {
		if opts.Root == nil {
			opts.Root = &specs.Root{Path: "/"}
		}
		opts.Root.Readonly = true
	}
	for _, m := range f.mounts.specs {
		var mnt specs.Mount
		var err error
		switch m.kind {
		case "bind":
			mnt, err = parseBind(m.arg, false)
		case "ro-bind":
			mnt, err = parseBind(m.arg, true)
		case "tmpfs":
			mnt, err = parseTmpfs(m.arg)
		case "proc", "dev":
			if !filepath.IsAbs(m.arg) {
				err = fmt.Errorf("%q must be an absolute path", m.arg)
			} else if m.kind == "proc" {
				mnt = sandbox.ProcMount(filepath.Clean(m.arg))
			} else {
				mnt = sandbox.DevMount(filepath.Clean(m.arg))
			}
			if slices.ContainsFunc(opts.Mounts, func(x specs.Mount) bool { return reflect.DeepEqual(x, mnt) }) {
				continue // the default view has it already
			}
		case "rw":
			var p string
			if p, err = filepath.Abs(m.arg); err == nil {
				mnt = sandbox.BindRW(p)
			}
		}
		if err != nil {
			return fmt.Errorf("--%s: %w", m.kind, err)
		}
		opts.Mounts = append(opts.Mounts, mnt)
	}
	return nil
}

// readConfig reads an OCI config.json from any path; a relative root.path
// and relative bind sources are taken against the file's directory, as for
// a bundle.
func readConfig(path string) (*sandbox.Options, []string, error) {
	return sandbox.FromConfigFile(path)
}

// specTerminal reports whether an OCI config asks for process.terminal.
func specTerminal(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var s struct {
		Process *struct {
			Terminal bool `json:"terminal"`
		} `json:"process"`
	}
	return json.Unmarshal(b, &s) == nil && s.Process != nil && s.Process.Terminal
}

// hasNamespacePath reports whether o joins a namespace of type t by path.
func hasNamespacePath(o *sandbox.Options, t specs.LinuxNamespaceType) bool {
	ns, ok := o.Namespace(t)
	return ok && ns.Path != ""
}
