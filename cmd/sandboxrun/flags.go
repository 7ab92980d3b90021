package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// runFlags is everything the run command's flags say.
type runFlags struct {
	unshare    map[specs.LinuxNamespaceType]*bool
	unshareAll bool
	shareNet   bool
	share      []string
	rootless   bool
	hostRoot   bool
	preset     string

	uidMaps, gidMaps []string
	uid, gid         uint32
	groups           []string

	hostname, domainname string

	rootfs   string
	readOnly bool
	shareFS  bool
	mounts   mountList

	rlimits          []string
	capAdd, capDrop  []string
	noNewPrivs       bool
	seccompProfile   string
	landlockRO       []string
	landlockRW       []string
	landlockBest     bool
	env              []string
	clearEnv         bool
	chdir            string
	memory, cpus     string
	cpuset           string
	pids             string
	cgroupBest       bool
	cgroupParent     string
	timeout, killAft time.Duration
	dieWithParent    bool
	report           string
	strict           bool
	config, bundle   string
	shareNS          string

	fs *pflag.FlagSet
}

// mountSpec is one --bind, --ro-bind, --tmpfs, --proc or --dev, kept in
// command-line order: mounts are made in that order, as in bubblewrap.
type mountSpec struct{ kind, arg string }

type mountList struct{ specs []mountSpec }

// mountFlag is a pflag.Value appending to a shared mountList.
type mountFlag struct {
	list *mountList
	kind string
}

func (m mountFlag) String() string { return "" }
func (m mountFlag) Type() string {
	switch m.kind {
	case "proc", "dev":
		return "DIR"
	case "tmpfs":
		return "DST[:OPTS]"
	case "ro-bind":
		return "SRC[:DST]"
	case "rw":
		return "PATH"
	}
	return "SRC[:DST][:ro]"
}
func (m mountFlag) Set(s string) error {
	m.list.specs = append(m.list.specs, mountSpec{m.kind, s})
	return nil
}

// namespace flag names, in the order --help lists them.
var unshareFlags = []struct {
	name string
	t    specs.LinuxNamespaceType
	help string
}{
	{"user", specs.UserNamespace, "new user namespace (default; as root with the identity map)"},
	{"pid", specs.PIDNamespace, "new pid namespace (default)"},
	{"net", specs.NetworkNamespace, "new network namespace with only loopback (default as root)"},
	{"ipc", specs.IPCNamespace, "new ipc namespace (default)"},
	{"uts", specs.UTSNamespace, "new uts namespace (default)"},
	{"cgroup", specs.CgroupNamespace, "new cgroup namespace"},
	{"time", specs.TimeNamespace, "new time namespace"},
	{"mount", specs.MountNamespace, "new mount namespace (default)"},
}

// shareNames maps the names --share takes to namespace types.
var shareNames = map[string]specs.LinuxNamespaceType{
	"user": specs.UserNamespace, "pid": specs.PIDNamespace, "net": specs.NetworkNamespace,
	"network": specs.NetworkNamespace, "ipc": specs.IPCNamespace, "uts": specs.UTSNamespace,
	"cgroup": specs.CgroupNamespace, "time": specs.TimeNamespace, "mount": specs.MountNamespace,
	"mnt": specs.MountNamespace,
}

func addRunFlags(fs *pflag.FlagSet) *runFlags {
	f := &runFlags{fs: fs, unshare: map[specs.LinuxNamespaceType]*bool{}}
	fs.SortFlags = false
	// Namespaces.
	for _, u := range unshareFlags {
		f.unshare[u.t] = fs.Bool("unshare-"+u.name, false, u.help)
	}
	fs.BoolVar(&f.unshareAll, "unshare-all", false, "new pid, mount, network, uts, ipc and cgroup namespaces (and user, as always)")
	fs.BoolVar(&f.shareNet, "share-net", false, "keep the host network (no network namespace)")
	fs.StringArrayVar(&f.share, "share", nil, "keep the host's namespace of `TYPE`: user, pid, net, ipc, uts, cgroup, time, mount (repeatable)")
	fs.BoolVar(&f.rootless, "rootless", os.Geteuid() != 0, "unprivileged preset: new user namespace with your uid and gid mapped to 0 (default when not root)")
	fs.BoolVar(&f.hostRoot, "host-root", false, "TRUSTED CODE ONLY, for a root caller: the sandbox's uid 0 is the host's uid 0 (identity map; with --share user no user namespace at all). Without it root's sandboxes run as a range of unprivileged host ids of their own")
	fs.StringVar(&f.preset, "preset", "", "start from preset `NAME`: default, or mpi for one MPI rank or Slurm task (host network, pid and ipc, shared /dev/shm and /tmp, uid mapped to itself, process_vm_readv/writev allowed)")
	// Identity.
	fs.StringArrayVar(&f.uidMaps, "uid-map", nil, "uid map line `CONTAINER:HOST:SIZE` (repeatable; beyond your own uid needs newuidmap and /etc/subuid)")
	fs.StringArrayVar(&f.gidMaps, "gid-map", nil, "gid map line `CONTAINER:HOST:SIZE` (repeatable; beyond your own gid needs newgidmap and /etc/subgid)")
	fs.Uint32Var(&f.uid, "uid", 0, "run as this uid inside (in a new user namespace without --uid-map, your uid is mapped to it)")
	fs.Uint32Var(&f.gid, "gid", 0, "run as this gid inside (in a new user namespace without --gid-map, your gid is mapped to it)")
	fs.StringArrayVar(&f.groups, "groups", nil, "additional `GID,...` inside")
	fs.StringVar(&f.hostname, "hostname", "", "host name in the new uts namespace")
	fs.StringVar(&f.domainname, "domainname", "", "NIS domain name in the new uts namespace")
	// Filesystem.
	fs.StringVar(&f.rootfs, "rootfs", "", "use `DIR` as the root filesystem (pivot_root; MS_MOVE+chroot on an initramfs)")
	fs.BoolVar(&f.readOnly, "read-only", false, "make the root read-only (the default view of the host is read-only already; this is for --rootfs and --share-fs)")
	fs.Var(mountFlag{&f.mounts, "bind"}, "bind", "bind mount SRC on DST (default SRC), read-only with :ro (repeatable)")
	fs.Var(mountFlag{&f.mounts, "ro-bind"}, "ro-bind", "read-only bind mount SRC on DST (repeatable)")
	fs.Var(mountFlag{&f.mounts, "rw"}, "rw", "let the sandbox write `PATH` of the host (a writable bind of PATH onto itself; everything else of the host is read-only) (repeatable)")
	fs.BoolVar(&f.shareFS, "share-fs", false, "TRUSTED CODE ONLY: the host's file system as it is, writable wherever the sandbox's ids may write, instead of the read-only view")
	fs.Var(mountFlag{&f.mounts, "tmpfs"}, "tmpfs", "mount a tmpfs on DST, with mount options such as size=64m,mode=1777 (repeatable)")
	fs.Var(mountFlag{&f.mounts, "proc"}, "proc", "mount a new proc (of the new pid namespace) on /proc, or on --proc=DIR")
	fs.Lookup("proc").NoOptDefVal = "/proc"
	fs.Var(mountFlag{&f.mounts, "dev"}, "dev", "mount a minimal /dev (null, zero, full, random, urandom, tty, shm, pts), or on --dev=DIR")
	fs.Lookup("dev").NoOptDefVal = "/dev"
	// Process attributes.
	fs.StringArrayVar(&f.rlimits, "rlimit", nil, "resource limit `NAME=SOFT[:HARD]`, e.g. nofile=1024 or core=0 (repeatable; \"unlimited\" allowed)")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop capability `NAME` or ALL (all are dropped by default)")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "keep capability `NAME` (e.g. NET_BIND_SERVICE) or ALL, in every set including ambient")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", true, "set no_new_privs (setuid and file capabilities give nothing)")
	fs.StringVar(&f.seccompProfile, "seccomp", "default", "seccomp `PROFILE`: default (Docker's), unconfined, or the path of an OCI or Docker JSON file")
	fs.StringArrayVar(&f.landlockRO, "landlock-ro", nil, "with Landlock, allow reading and executing under `PATH` (repeatable; everything not listed is denied)")
	fs.StringArrayVar(&f.landlockRW, "landlock-rw", nil, "with Landlock, allow reading and writing under `PATH` (repeatable)")
	fs.BoolVar(&f.landlockBest, "landlock-best-effort", false, "degrade to the kernel's Landlock ABI instead of refusing to run")
	fs.StringArrayVar(&f.env, "env", nil, "set `KEY=VALUE` (or KEY, copied from this environment) (repeatable)")
	fs.BoolVar(&f.clearEnv, "clearenv", false, "start from an empty environment")
	fs.StringVar(&f.chdir, "chdir", "", "working `DIR` inside")
	// Cgroups.
	fs.StringVar(&f.memory, "memory", "", "memory limit, e.g. 512m or 2g")
	fs.StringVar(&f.pids, "pids", "", "limit on the number of processes and threads: `N` (a pids cgroup, and RLIMIT_NPROC in the sandbox's user namespace), or unlimited (default: RLIMIT_NPROC 2048, counting only the sandbox's own processes)")
	fs.StringVar(&f.cpus, "cpus", "", "CPU quota in CPUs, e.g. 1.5")
	fs.StringVar(&f.cpuset, "cpuset", "", "CPUs to run on, e.g. 0-1,3")
	fs.StringVar(&f.cgroupParent, "cgroup-path", "", "OCI cgroupsPath: relative to your own cgroup, or absolute (default: a new nsfork-* cgroup under your own)")
	fs.BoolVar(&f.cgroupBest, "cgroups-best-effort", false, "run without the cgroup limits that cannot be set (no delegation) instead of refusing")
	// Launcher.
	fs.DurationVar(&f.timeout, "timeout", 0, "send SIGTERM after `D` (e.g. 30s) and exit 124, like timeout(1)")
	fs.DurationVar(&f.killAft, "kill-after", 0, "with --timeout: send SIGKILL `D` after the SIGTERM if still running (exit 137)")
	fs.BoolVar(&f.dieWithParent, "die-with-parent", true, "kill the sandbox when sandboxrun dies")
	fs.StringVar(&f.report, "report", "", "write a JSON record of what was applied to `FILE` (- for stdout)")
	fs.BoolVar(&f.strict, "strict", false, "refuse to run when anything requested was not applied")
	fs.StringVar(&f.config, "config", "", "OCI runtime `config.json` to start from; flags given as well apply on top")
	fs.StringVar(&f.bundle, "bundle", "", "OCI bundle `DIR` (DIR/config.json and its rootfs); flags apply on top")
	addShareFlag(fs, f)
	return f
}

func (f *runFlags) changed(name string) bool { return f.fs.Changed(name) }

// plan is a resolved command line.
type plan struct {
	opts     *sandbox.Options
	argv     []string
	seccomp  string // the profile's name, for the report
	terminal bool   // the OCI config asked for process.terminal
	notes    []string
	jobName  string // --share-ns: the job namespace set to join
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
	if oci && os.Geteuid() == 0 && !f.hostRoot && !opts.NewNamespace(specs.UserNamespace) && !hasNamespacePath(opts, specs.UserNamespace) {
		// A config without a user namespace would run as host root, as
		// runc runs it: here it gets one, with a leased range of
		// unprivileged host ids. --host-root keeps runc's behaviour.
		opts.WithNamespaces(specs.UserNamespace)
		p.notes = append(p.notes, "linux.namespaces: a user namespace was added, with a range of unprivileged host ids for ids 0-65535 inside (--host-root runs the config as host root, as runc does)")
	}
	if f.hostRoot && !oci {
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

func (f *runFlags) namespaces(opts *sandbox.Options) error {
	keep := map[specs.LinuxNamespaceType]string{}
	if f.shareNet {
		keep[specs.NetworkNamespace] = "--share-net"
	}
	for _, s := range f.share {
		t, ok := shareNames[strings.ToLower(s)]
		if !ok {
			return fmt.Errorf("--share %q: not a namespace type (user, pid, net, ipc, uts, cgroup, time, mount)", s)
		}
		keep[t] = "--share " + s
	}
	var add []specs.LinuxNamespaceType
	if f.unshareAll {
		add = append(add, specs.PIDNamespace, specs.MountNamespace, specs.NetworkNamespace,
			specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace)
	}
	for _, u := range unshareFlags {
		if *f.unshare[u.t] {
			if why, ok := keep[u.t]; ok {
				return fmt.Errorf("--unshare-%s and %s contradict each other", u.name, why)
			}
			add = append(add, u.t)
		}
	}
	for _, t := range add {
		if _, ok := keep[t]; !ok {
			opts.WithNamespaces(t)
		}
	}
	for t := range keep {
		opts.WithoutNamespaces(t)
	}
	if _, ok := keep[specs.UserNamespace]; ok {
		opts.UIDMappings, opts.GIDMappings = nil, nil
	}
	return nil
}

func (f *runFlags) identity(opts *sandbox.Options, oci bool) error {
	var err error
	parse := func(flag string, in []string) ([]specs.LinuxIDMapping, error) {
		var out []specs.LinuxIDMapping
		for _, s := range in {
			m, err := parseIDMap(s)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", flag, err)
			}
			out = append(out, m)
		}
		return out, nil
	}
	newUser := opts.NewNamespace(specs.UserNamespace)
	root := os.Geteuid() == 0
	if root && newUser && !oci && !f.hostRoot && len(f.uidMaps) == 0 && len(f.gidMaps) == 0 && (f.changed("uid") || f.changed("gid")) {
		// A root caller starting a job for a host user: that user's own
		// ids, mapped to themselves.
		uid, gid, err := hostUser(f)
		if err != nil {
			return err
		}
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: uid, HostID: uid, Size: 1}}
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: gid, HostID: gid, Size: 1}}
		opts.User.UID, opts.User.GID = uid, gid
	} else if len(f.uidMaps) > 0 {
		if opts.UIDMappings, err = parse("uid-map", f.uidMaps); err != nil {
			return err
		}
	} else if newUser && f.changed("uid") && !root {
		// Like unshare --map-user: your own uid becomes UID inside.
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: f.uid, HostID: uint32(os.Geteuid()), Size: 1}}
	} else if newUser && !oci && len(opts.UIDMappings) == 0 && !root {
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	}
	if len(f.gidMaps) > 0 {
		if opts.GIDMappings, err = parse("gid-map", f.gidMaps); err != nil {
			return err
		}
	} else if newUser && f.changed("gid") && !root {
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: f.gid, HostID: uint32(os.Getegid()), Size: 1}}
	} else if newUser && !oci && len(opts.GIDMappings) == 0 && !root {
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	}
	if f.changed("uid") {
		opts.User.UID = f.uid
	}
	if f.changed("gid") {
		opts.User.GID = f.gid
	}
	if root && !f.hostRoot && !oci {
		for _, m := range [][]specs.LinuxIDMapping{opts.UIDMappings, opts.GIDMappings} {
			if mapsHostRoot(m) {
				return errors.New("--uid-map/--gid-map: the map gives the sandbox the host's id 0, which is host root for every root-owned file, /proc/sys and /sys: add --host-root (trusted code only) if that is meant")
			}
		}
	}
	if len(f.groups) > 0 {
		g, err := parseGroups(f.groups)
		if err != nil {
			return fmt.Errorf("--groups: %w", err)
		}
		opts.User.AdditionalGids = g
	}
	return nil
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

func (f *runFlags) capabilities(opts *sandbox.Options) error {
	if len(f.capAdd) == 0 && len(f.capDrop) == 0 {
		return nil
	}
	var set []string
	if c := opts.Capabilities; c != nil {
		set = slices.Clone(c.Bounding)
	} else {
		// Nil keeps what the process has: start from every capability so
		// that --cap-drop NAME means "all but NAME".
		set = sandbox.CapabilityNames()
	}
	var drops []string
	for _, s := range f.capDrop {
		for _, x := range strings.Split(s, ",") {
			n, err := capName(x)
			if err != nil {
				return fmt.Errorf("--cap-drop: %w", err)
			}
			if n == "ALL" {
				set = nil
			} else {
				drops = append(drops, n)
			}
		}
	}
	for _, s := range f.capAdd {
		for _, x := range strings.Split(s, ",") {
			n, err := capName(x)
			if err != nil {
				return fmt.Errorf("--cap-add: %w", err)
			}
			if n == "ALL" {
				set = sandbox.CapabilityNames()
				continue
			}
			if slices.Contains(drops, n) {
				return fmt.Errorf("--cap-add %s and --cap-drop %s contradict each other", x, x)
			}
			if !slices.Contains(set, n) {
				set = append(set, n)
			}
		}
	}
	set = slices.DeleteFunc(set, func(n string) bool { return slices.Contains(drops, n) })
	slices.Sort(set)
	opts.Capabilities = &specs.LinuxCapabilities{
		Bounding: set, Effective: slices.Clone(set), Permitted: slices.Clone(set),
		Inheritable: slices.Clone(set), Ambient: slices.Clone(set),
	}
	return nil
}

func (f *runFlags) resources(opts *sandbox.Options) error {
	if f.changed("cgroup-path") {
		opts.CgroupsPath = f.cgroupParent
	}
	if f.cgroupBest {
		opts.CgroupsBestEffort = true
	}
	pids, err := f.pidsLimit(opts)
	if err != nil {
		return err
	}
	if f.memory == "" && pids == 0 && f.cpus == "" && f.cpuset == "" {
		return nil
	}
	r := opts.Resources
	if r == nil {
		r = &specs.LinuxResources{}
	}
	if f.memory != "" {
		v, err := parseSize(f.memory)
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		r.Memory.Limit = &v
	}
	if pids != 0 {
		r.Pids = &specs.LinuxPids{Limit: &pids}
	}
	if f.cpus != "" || f.cpuset != "" {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
	}
	if f.cpus != "" {
		q, err := parseCPUs(f.cpus)
		if err != nil {
			return fmt.Errorf("--cpus: %w", err)
		}
		per := uint64(cpuPeriod)
		r.CPU.Quota, r.CPU.Period = &q, &per
	}
	if f.cpuset != "" {
		r.CPU.Cpus = f.cpuset
	}
	opts.Resources = r
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

// checkHostRoot refuses, for a root caller, what would make the sandbox's
// root the host's without --host-root: sharing the host's user namespace.
// It also refuses --host-root where it means nothing.
func (f *runFlags) checkHostRoot(opts *sandbox.Options, oci bool) error {
	if f.hostRoot && os.Geteuid() != 0 {
		return errors.New("--host-root: only a root caller has the host's root to give")
	}

	if os.Geteuid() == 0 && !oci && !f.hostRoot && f.shareUser() {
		return errors.New("--share user: as root, without a user namespace the sandbox's uid 0 is host root; add --host-root (trusted code only) if that is meant")
	}
	return nil
}

func (f *runFlags) shareUser() bool {
	for _, s := range f.share {
		if shareNames[strings.ToLower(s)] == specs.UserNamespace {
			return true
		}
	}
	return false
}

// mapsHostRoot reports whether m maps some id onto host id 0.
func mapsHostRoot(m []specs.LinuxIDMapping) bool {
	for _, e := range m {
		if e.HostID == 0 && e.Size > 0 {
			return true
		}
	}
	return false
}

// hostUser returns the host uid and gid a root caller's --uid and --gid
// name; a missing --gid is the user's primary group from the user
// database.
func hostUser(f *runFlags) (uint32, uint32, error) {
	uid, gid := f.uid, f.gid
	if !f.changed("uid") {
		return 0, 0, errors.New("--gid without --uid: as root, name the host user with --uid (and its group with --gid)")
	}
	if !f.changed("gid") {
		u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
		if err != nil {
			return 0, 0, fmt.Errorf("--uid %d: no --gid, and no primary group from the user database: %w", uid, err)
		}
		g, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("--uid %d: primary group %q: %w", uid, u.Gid, err)
		}
		gid = uint32(g)
	}
	if uid == 0 || gid == 0 {
		return 0, 0, errors.New("--uid 0 / --gid 0: as root, that is host root: add --host-root (trusted code only) if that is meant")
	}
	return uid, gid, nil
}

// hasNamespacePath reports whether o joins a namespace of type t by path.
func hasNamespacePath(o *sandbox.Options, t specs.LinuxNamespaceType) bool {
	ns, ok := o.Namespace(t)
	return ok && ns.Path != ""
}

// pidsLimit applies --pids to the presets' RLIMIT_NPROC (N replaces it,
// "unlimited" removes it) and returns the pids cgroup limit it asks for (0:
// none).
func (f *runFlags) pidsLimit(opts *sandbox.Options) (int64, error) {
	if f.pids == "" {
		return 0, nil
	}
	opts.Rlimits = slices.DeleteFunc(opts.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == "RLIMIT_NPROC" })
	if f.pids == "unlimited" {
		return 0, nil
	}
	n, err := strconv.ParseInt(f.pids, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--pids %q: a positive number, or unlimited", f.pids)
	}
	opts.Rlimits = append(opts.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: uint64(n), Hard: uint64(n)})
	return n, nil
}
