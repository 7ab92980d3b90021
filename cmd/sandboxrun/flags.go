package main

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/internal/lookup"
	"github.com/nsfork/nsfork/sandbox"
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
	sysctls              []string

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
var shareNames = lookup.Table[string, specs.LinuxNamespaceType]{
	{Key: "user", Val: specs.UserNamespace}, {Key: "pid", Val: specs.PIDNamespace}, {Key: "net", Val: specs.NetworkNamespace},
	{Key: "network", Val: specs.NetworkNamespace}, {Key: "ipc", Val: specs.IPCNamespace}, {Key: "uts", Val: specs.UTSNamespace},
	{Key: "cgroup", Val: specs.CgroupNamespace}, {Key: "time", Val: specs.TimeNamespace}, {Key: "mount", Val: specs.MountNamespace},
	{Key: "mnt", Val: specs.MountNamespace},
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
	stringsVar(fs, &f.share, "share", "keep the host's namespace of `TYPE`: user, pid, net, ipc, uts, cgroup, time, mount (repeatable)")
	fs.BoolVar(&f.rootless, "rootless", !sandbox.RootInInitialUserNS(), "unprivileged preset: new user namespace with your uid and gid mapped to 0 (default unless host root; root of a user namespace other than the initial one is rootless too)")
	fs.BoolVar(&f.hostRoot, "host-root", false, "TRUSTED CODE ONLY, for a root caller: the sandbox's uid 0 is the host's uid 0 (identity map; with --share user no user namespace at all). Without it root's sandboxes run as a range of unprivileged host ids of their own, and root of a user namespace that maps host root (unshare -r run by host root) is refused: its sandbox's uid 0 would be host uid 0; so is a user whose groups include host gid 0 (kept in the sandbox), for whom it is the opt-in")
	fs.StringVar(&f.preset, "preset", "", "start from preset `NAME`: default, or mpi for one MPI rank or Slurm task (host network, pid and ipc, shared /dev/shm and /tmp, uid mapped to itself, process_vm_readv/writev allowed)")
	// Identity.
	stringsVar(fs, &f.uidMaps, "uid-map", "uid map line `CONTAINER:HOST:SIZE` (repeatable; beyond your own uid needs newuidmap and /etc/subuid)")
	stringsVar(fs, &f.gidMaps, "gid-map", "gid map line `CONTAINER:HOST:SIZE` (repeatable; beyond your own gid needs newgidmap and /etc/subgid)")
	fs.Uint32Var(&f.uid, "uid", 0, "run as this uid inside (in a new user namespace without --uid-map, your uid is mapped to it)")
	fs.Uint32Var(&f.gid, "gid", 0, "run as this gid inside (in a new user namespace without --gid-map, your gid is mapped to it)")
	stringsVar(fs, &f.groups, "groups", "additional `GID,...` inside")
	fs.StringVar(&f.hostname, "hostname", "", "host name in the new uts namespace")
	fs.StringVar(&f.domainname, "domainname", "", "NIS domain name in the new uts namespace")
	stringsVar(fs, &f.sysctls, "sysctl", "sysctl `KEY=VALUE` of the sandbox's own namespaces, as OCI linux.sysctl: kernel.msgmax, msgmnb, msgmni, sem, shmall, shmmax, shmmni, shm_rmid_forced or fs.mqueue.* (ipc namespace), net.* (network namespace), kernel.domainname (repeatable)")
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
	stringsVar(fs, &f.rlimits, "rlimit", "resource limit `NAME=SOFT[:HARD]`, e.g. nofile=1024 or core=0 (repeatable; \"unlimited\" allowed)")
	stringsVar(fs, &f.capDrop, "cap-drop", "drop capability `NAME` or ALL (all are dropped by default)")
	stringsVar(fs, &f.capAdd, "cap-add", "keep capability `NAME` (e.g. NET_BIND_SERVICE) or ALL, in every set including ambient")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", true, "set no_new_privs (setuid and file capabilities give nothing)")
	fs.StringVar(&f.seccompProfile, "seccomp", "default", "seccomp `PROFILE`: default (Docker's), unconfined, or the path of an OCI or Docker JSON file")
	stringsVar(fs, &f.landlockRO, "landlock-ro", "with Landlock, allow reading and executing under `PATH` (repeatable; everything not listed is denied)")
	stringsVar(fs, &f.landlockRW, "landlock-rw", "with Landlock, allow reading and writing under `PATH` (repeatable)")
	fs.BoolVar(&f.landlockBest, "landlock-best-effort", false, "degrade to the kernel's Landlock ABI instead of refusing to run")
	stringsVar(fs, &f.env, "env", "set `KEY=VALUE` (or KEY, copied from this environment) (repeatable)")
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
	addWarmFlag(fs)
	return f
}

func (f *runFlags) changed(name string) bool { return f.fs.Changed(name) }
