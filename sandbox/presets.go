package sandbox

import (
	"os"
	"reflect"
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/seccomp"
)

// DefaultPids is the presets' limit on the number of processes and threads
// a sandbox may run (podman's default), as RLIMIT_NPROC. Set after the
// sandbox's user namespace exists, it counts only the sandbox's own
// processes (Linux 5.14 and later count RLIMIT_NPROC per user namespace),
// never the caller's other ones.
const DefaultPids = 2048

// Rootless returns the secure defaults for an unprivileged caller, the
// same as sandboxrun's: new user, pid, mount, uts, ipc and network
// namespaces (loopback only), the caller's euid and egid mapped to 0 inside
// and the child running as 0:0 there, every capability dropped,
// no_new_privs, Docker's default seccomp profile, a new session keyring,
// RLIMIT_CORE 0, at most DefaultPids processes, death with the parent, and
// the default view of the host's file system: everything read-only, a new
// /proc, a minimal /dev, private /tmp, /var/tmp and /run (see PrivateDirs;
// WithBinds grants a directory, HostFS removes the view). Root of a user
// namespace other than the initial one (RootInInitialUserNS is false) is
// such a caller: its uid and gid 0 are mapped to 0 in a new, nested user
// namespace, and no more of the ids its namespace may have.
// For host root, Rootless is Root.
func Rootless() *Options {
	o := rootless(os.Geteuid(), os.Getegid(), RootInInitialUserNS())
	o.Seccomp = defaultSeccomp()
	return o
}

func rootless(euid, egid int, hostRoot bool) *Options {
	o := hardened()
	o.Namespaces = namespaces(specs.UserNamespace, specs.PIDNamespace, specs.MountNamespace,
		specs.UTSNamespace, specs.IPCNamespace, specs.NetworkNamespace)
	withHostView(o)
	if !hostRoot {
		// (For host root, no maps: a leased range, never host root.)
		o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(euid), Size: 1}}
		o.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(egid), Size: 1}}
	}
	return o
}

// Root returns the secure defaults for a root caller, the same as
// sandboxrun's: Rootless's isolation, in which the user namespace maps ids
// 0-65535 onto a range of unprivileged host ids of the sandbox's own
// (LeasesIDRange), never onto host root. The sandbox's root is root only
// over the sandbox's own namespaces.
func Root() *Options {
	o := rootless(0, 0, true)
	o.Seccomp = defaultSeccomp()
	return o
}

// Default returns Root for host root (RootInInitialUserNS) and Rootless for
// anyone else, root of another user namespace too: the secure defaults,
// the same as sandboxrun's without flags.
func Default() *Options {
	if !RootInInitialUserNS() {
		return Rootless()
	}
	return Root()
}

// HostRoot returns Root's isolation without a user namespace: for TRUSTED
// CODE ONLY. The child runs as the host's own uid 0. Dropped capabilities
// do not make that safe: the kernel gives uid 0 the owner's rights on
// /proc/sys, /sys, cgroup files and every root-owned file and socket it can
// see, with no capability at all (writing /proc/sys/kernel/core_pattern
// alone runs a program as host root). Use it only for code you would run
// as root outside any sandbox. It sets TrustedHostRoot. (Root of a user
// namespace that maps host root, as `unshare -r` run by host root makes,
// opts in with TrustedHostRoot on Default instead: HostRoot's /dev/pts
// needs gid 5 (tty), which such a namespace seldom maps.)
func HostRoot() *Options {
	o := hardened()
	o.TrustedHostRoot = true
	o.Namespaces = namespaces(specs.PIDNamespace, specs.MountNamespace, specs.UTSNamespace,
		specs.IPCNamespace, specs.NetworkNamespace)
	o.Seccomp = defaultSeccomp()
	return withHostView(o)
}

// defaultSeccomp is Docker's default profile for a process without
// capabilities on this architecture. On an architecture the seccomp package
// has no table for, it is a profile naming that architecture, which the
// start refuses (fail closed) instead of running without a filter.
func defaultSeccomp() *specs.LinuxSeccomp {
	p, err := seccomp.DefaultProfile(nil, runtime.GOARCH)
	if err != nil {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.Arch("unsupported:" + runtime.GOARCH)}}
	}
	return p
}

func hardened() *Options {
	return &Options{
		User:              specs.User{UID: 0, GID: 0},
		Capabilities:      &specs.LinuxCapabilities{},
		NoNewPrivileges:   true,
		NewSessionKeyring: true,
		DieWithParent:     true,
		Rlimits: []specs.POSIXRlimit{
			{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
			{Type: "RLIMIT_NPROC", Hard: DefaultPids, Soft: DefaultPids},
		},
	}
}

func namespaces(types ...specs.LinuxNamespaceType) []specs.LinuxNamespace {
	ns := make([]specs.LinuxNamespace, len(types))
	for i, t := range types {
		ns[i] = specs.LinuxNamespace{Type: t}
	}
	return ns
}

// WithNamespaces adds new namespaces of the given types to o, skipping types
// o already creates or joins, and returns o.
func (o *Options) WithNamespaces(types ...specs.LinuxNamespaceType) *Options {
	for _, t := range types {
		if _, ok := o.Namespace(t); !ok {
			o.Namespaces = append(o.Namespaces, specs.LinuxNamespace{Type: t})
		}
	}
	return o
}

// WithoutNamespaces removes the namespaces of the given types from o and
// returns o. Removing the pid namespace also removes the default view's
// new /proc, which belongs to it: the host's /proc then shows through the
// read-only root, masked as any /proc.
func (o *Options) WithoutNamespaces(types ...specs.LinuxNamespaceType) *Options {
	if slices.Contains(types, specs.PIDNamespace) {
		proc := ProcMount("/proc")
		o.Mounts = slices.DeleteFunc(o.Mounts, func(m specs.Mount) bool { return reflect.DeepEqual(m, proc) })
	}
	kept := o.Namespaces[:0:0]
	for _, ns := range o.Namespaces {
		drop := false
		for _, t := range types {
			drop = drop || ns.Type == t
		}
		if !drop {
			kept = append(kept, ns)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	o.Namespaces = kept
	return o
}
