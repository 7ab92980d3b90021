// Package sandbox describes the isolation of an nsfork child as pure data.
//
// Options uses the OCI runtime-spec types and field names, so that an
// Options value marshals to and from JSON the way the matching parts of an
// OCI config.json do, and FromSpec turns an OCI config into Options. Nothing
// in this package makes a system call: it describes, checks (Validate) and
// converts. The fork package starts the child and the nsinit package applies
// the Options inside it.
//
// # Presets
//
// Rootless returns what an unprivileged user can use with no setup at all: new
// user, pid, mount, uts and ipc namespaces, the caller's own uid and gid mapped
// to root inside, no_new_privs and every capability dropped before the
// function runs. Root returns the same isolation for a root caller, with a
// network namespace and no user namespace. Default picks one of the two for
// the calling user.
//
// # Validation
//
// Validate checks everything that can be checked without starting a process
// (namespace types and paths, id maps, rlimit names, capability names,
// mount specs, the root path, the environment) and returns an *Error naming
// the field that is wrong. Errors for inputs that are wrong match ErrInvalid;
// errors for what Linux or nsfork cannot do (joining a mount, user, pid or
// time namespace by path, an OCI field nsfork cannot honour) match
// errors.ErrUnsupported.
//
// # OCI configurations
//
// FromSpec and FromBundle read an OCI config; ToSpec writes one. The nsfork
// extensions travel as annotations, so FromSpec(o.ToSpec()) equals o.
package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options is the isolation of one child. The zero value means "no isolation":
// the child shares every namespace and every attribute with its parent.
//
// JSON field names are the OCI runtime-spec's own where the spec has the
// concept; the few nsfork extensions have names of their own and are marked
// as such.
type Options struct {
	// Namespaces to create (Path empty) or to join (Path set), OCI
	// linux.namespaces.
	Namespaces []specs.LinuxNamespace `json:"namespaces,omitempty"`
	// UIDMappings and GIDMappings for a new user namespace, OCI
	// linux.uidMappings and linux.gidMappings. Empty with a new user
	// namespace means: for a caller that is not host root (root of another
	// user namespace included, see RootInInitialUserNS), its own id mapped
	// to 0; for host root, ids 0-65535 mapped onto a range of unprivileged
	// host ids of the sandbox's own (LeasesIDRange), never onto host root.
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	// IDRangeKey (nsfork extension) concerns a root caller that gives no
	// id maps, whose sandbox gets a range of unprivileged host ids leased
	// from nsfork's pool (see LeasesIDRange): sandboxes started with the
	// same non-empty key while one of them runs share one range, as the
	// ranks of one MPI job must; an empty key gives a range of its own.
	IDRangeKey string `json:"idRangeKey,omitempty"`
	// TimeOffsets for a new time namespace, OCI linux.timeOffsets, keyed by
	// "monotonic" and "boottime".
	TimeOffsets map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`

	// Hostname and Domainname in a new uts namespace.
	Hostname   string `json:"hostname,omitempty"`
	Domainname string `json:"domainname,omitempty"`
	// Sysctl, OCI linux.sysctl: written through the sandbox's /proc/sys
	// before it is made read-only. Only sysctls a namespace of the
	// sandbox's own holds are allowed (ipc, net.*, kernel.domainname; see
	// SysctlPath and Validate), as runc allows them.
	Sysctl map[string]string `json:"sysctl,omitempty"`

	// User is the uid, gid and additional gids the function (or command)
	// runs as, inside the user namespace if there is one, and its umask.
	// OCI process.user. Without a new user namespace the zero User keeps
	// the caller's ids (see AppliesUser); a non-root caller cannot change
	// its ids without one.
	User specs.User `json:"user"`
	// Rlimits, OCI process.rlimits (RLIMIT_* names).
	Rlimits []specs.POSIXRlimit `json:"rlimits,omitempty"`
	// Capabilities, OCI process.capabilities. Nil keeps whatever the
	// process has; a non-nil value sets all five sets exactly (a nil set
	// is the empty set). FromSpec gives a config without
	// process.capabilities five empty sets, as runc does.
	Capabilities *specs.LinuxCapabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges sets no_new_privs on every thread, OCI
	// process.noNewPrivileges.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// NewSessionKeyring gives the child a new, empty session keyring, so
	// that it cannot use the keys of the caller's (nsfork extension; on in
	// the presets, and for OCI configs, as runc does).
	NewSessionKeyring bool `json:"newSessionKeyring,omitempty"`
	// OOMScoreAdj, OCI process.oomScoreAdj.
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`

	// Seccomp profile loaded last, OCI linux.seccomp.
	Seccomp *specs.LinuxSeccomp `json:"seccomp,omitempty"`

	// Root filesystem, OCI root. Nil shares the host's root as it is.
	// Root.Path must be absolute (FromBundle resolves a bundle's relative
	// one) and needs a new mount namespace.
	Root *specs.Root `json:"root,omitempty"`
	// Mounts made inside the new mount namespace, OCI mounts.
	Mounts []specs.Mount `json:"mounts,omitempty"`
	// MaskedPaths and ReadonlyPaths, OCI linux.maskedPaths and
	// linux.readonlyPaths.
	MaskedPaths   []string `json:"maskedPaths,omitempty"`
	ReadonlyPaths []string `json:"readonlyPaths,omitempty"`
	// RootfsPropagation, OCI linux.rootfsPropagation.
	RootfsPropagation string `json:"rootfsPropagation,omitempty"`

	// Resources are cgroup limits, OCI linux.resources, and CgroupsPath the
	// cgroup to create them in, OCI linux.cgroupsPath.
	Resources   *specs.LinuxResources `json:"resources,omitempty"`
	CgroupsPath string                `json:"cgroupsPath,omitempty"`
	// CgroupsBestEffort skips the limits that cannot be applied (rootless
	// without a delegated cgroup) instead of failing (nsfork extension).
	CgroupsBestEffort bool `json:"cgroupsBestEffort,omitempty"`

	// Env is added to the child's environment (KEY=VALUE), OCI process.env.
	// With ClearEnv (an nsfork extension, set by FromSpec as OCI implies) the
	// child starts from an empty environment instead of the parent's.
	Env      []string `json:"env,omitempty"`
	ClearEnv bool     `json:"clearEnv,omitempty"`
	// Cwd is the working directory, OCI process.cwd.
	Cwd string `json:"cwd,omitempty"`

	// Landlock restricts filesystem access (nsfork extension).
	Landlock *Landlock `json:"landlock,omitempty"`

	// DieWithParent kills the child when the process that started it dies
	// (nsfork extension; on by default in the presets).
	DieWithParent bool `json:"dieWithParent,omitempty"`

	// TrustedHostRoot, TRUSTED CODE ONLY (nsfork extension): lets a caller
	// that is not host root but whose user namespace maps host root (root
	// of `unshare -r` run by host root) start a sandbox whose ids are host
	// root's, which Validate refuses otherwise (ErrHostRoot). HostRoot sets
	// it. It is no OCI annotation: ToSpec does not write it and FromSpec
	// never sets it, so that a bundle's config cannot opt in; the program
	// (or `sandboxrun --host-root`) does.
	TrustedHostRoot bool `json:"trustedHostRoot,omitempty"`
}

// Landlock lists the paths that stay reachable under a Landlock ruleset;
// everything else in the filesystem is denied.
type Landlock struct {
	// ReadOnly paths may be read and executed.
	ReadOnly []string `json:"readOnly,omitempty"`
	// ReadWrite paths may be read, written, created and removed.
	ReadWrite []string `json:"readWrite,omitempty"`
	// BestEffort degrades to the newest Landlock ABI the kernel has instead
	// of failing when the kernel is older than the one the rules need.
	BestEffort bool `json:"bestEffort,omitempty"`
}

// Namespace reports whether o creates or joins a namespace of type t, and the
// entry describing it.
func (o *Options) Namespace(t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	if o == nil {
		return specs.LinuxNamespace{}, false
	}
	for _, ns := range o.Namespaces {
		if ns.Type == t {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// NewNamespace reports whether o creates (rather than joins) a namespace of
// type t.
func (o *Options) NewNamespace(t specs.LinuxNamespaceType) bool {
	ns, ok := o.Namespace(t)
	return ok && ns.Path == ""
}
