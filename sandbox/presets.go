package sandbox

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Rootless returns options an unprivileged user can use with no setup: new
// user, pid, mount, uts and ipc namespaces (the network stays shared, as in
// the CLI's default), the caller's euid and egid mapped to 0 inside and the
// child running as 0:0 there, every capability dropped, no_new_privs, death
// with the parent and no core dumps (RLIMIT_CORE 0).
func Rootless() *Options {
	return rootless(os.Geteuid(), os.Getegid())
}

func rootless(euid, egid int) *Options {
	o := hardened()
	o.Namespaces = namespaces(specs.UserNamespace, specs.PIDNamespace, specs.MountNamespace,
		specs.UTSNamespace, specs.IPCNamespace)
	o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(euid), Size: 1}}
	o.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(egid), Size: 1}}
	return o
}

// Root returns options for a root caller: new pid, mount, uts, ipc and
// network namespaces and no user namespace, the child running as 0:0, every
// capability dropped, no_new_privs, death with the parent and no core dumps.
func Root() *Options {
	o := hardened()
	o.Namespaces = namespaces(specs.PIDNamespace, specs.MountNamespace, specs.UTSNamespace,
		specs.IPCNamespace, specs.NetworkNamespace)
	return o
}

// Default returns Rootless for a non-root caller (euid != 0) and Root for
// root.
func Default() *Options {
	if os.Geteuid() != 0 {
		return Rootless()
	}
	return Root()
}

func hardened() *Options {
	return &Options{
		User:            specs.User{UID: 0, GID: 0},
		Capabilities:    &specs.LinuxCapabilities{},
		NoNewPrivileges: true,
		DieWithParent:   true,
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Hard: 0, Soft: 0}},
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
// returns o.
func (o *Options) WithoutNamespaces(types ...specs.LinuxNamespaceType) *Options {
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
