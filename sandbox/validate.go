package sandbox

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/lookup"
)

// namespaceTypes are the namespace types Linux has, in the order nsfork
// lists them in messages.
var namespaceTypes = []specs.LinuxNamespaceType{
	specs.CgroupNamespace, specs.IPCNamespace, specs.MountNamespace,
	specs.NetworkNamespace, specs.PIDNamespace, specs.TimeNamespace,
	specs.UserNamespace, specs.UTSNamespace,
}

// joinUnsupported says why a namespace of a type cannot be joined by path
// from a Go child. Every other type can.
var joinUnsupported = lookup.Table[specs.LinuxNamespaceType, string]{
	{Key: specs.MountNamespace, Val: "joining a mount namespace by path is not supported: setns into a mount namespace needs a single-threaded caller and a Go child is multithreaded"},
	{Key: specs.UserNamespace, Val: "joining a user namespace by path is not supported: setns into a user namespace needs a single-threaded caller and a Go child is multithreaded"},
	{Key: specs.TimeNamespace, Val: "joining a time namespace by path is not supported: setns into a time namespace needs a single-threaded caller (the kernel returns EUSERS) and a Go child is multithreaded"},
	{Key: specs.PIDNamespace, Val: "joining a pid namespace by path is not supported: setns into a pid namespace moves only the caller's later children, never the caller"},
}

// mountTypes are the file system types nsfork mounts ("bind" stands for a
// bind mount, which may also be written with the bind or rbind option).
var mountTypes = []string{"bind", "cgroup", "cgroup2", "devpts", "mqueue", "overlay", "proc", "sysfs", "tmpfs"}

var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}

// Validate checks everything about o that can be checked before a process
// starts: namespace types and paths, id maps (and, for a non-root caller,
// that it owns the host ids it maps), rlimits, capabilities, the root path,
// mounts, the environment, the working directory, hostname, time offsets,
// Landlock paths, the sysctls (held by a namespace of the sandbox's own)
// and the outline of the seccomp profile. It returns nil, an
// *Error, or several *Error joined with errors.Join; each names the field.
// Errors for what nsfork cannot do match errors.ErrUnsupported, all others
// ErrInvalid.
//
// Validate reads the file system (os.Stat of the root, bind sources and
// namespace files), /etc/subuid and /etc/subgid, and the caller's ids; it
// changes nothing. Paths that only mean something inside the child (mount
// destinations, masked and read-only paths, cwd, Landlock paths) are checked
// for form only.
//
// Mount options are refused unless nsfork applies them as written (see
// MountOptionSupported). For a caller that is not host root, a sandbox
// whose ids would be host root's (see HostRootIDs) is refused with
// ErrHostRoot unless TrustedHostRoot is set. The cgroup resources and
// cgroups path are validated by the cgroup code, which knows the
// hierarchy (v1 or v2) they are applied to, except for the fields it
// never writes (memory.useHierarchy, memory.checkBeforeUpdate), refused
// here.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	return o.validate(liveHost())
}

func (o *Options) validate(h *host) error {
	var errs errList
	o.validateNamespaces(&errs, h)
	o.validateUser(&errs, h)
	o.validateHostRoot(&errs, h)
	o.validateUTSAndTime(&errs)
	validateSysctl(&errs, "sysctl", o.Sysctl, o.Namespaces, o.Domainname, h.ownNS)
	validateRlimits(&errs, o.Rlimits)
	validateCapabilities(&errs, o.Capabilities)
	if o.OOMScoreAdj != nil && (*o.OOMScoreAdj < -1000 || *o.OOMScoreAdj > 1000) {
		errs.add("oomScoreAdj", fmt.Sprint(*o.OOMScoreAdj), "must be between -1000 and 1000")
	}
	o.validateFilesystem(&errs, h)
	o.validateProcess(&errs)
	validateResources(&errs, "resources", o.Resources)
	if s := o.Seccomp; s != nil {
		if s.DefaultAction == "" {
			errs.add("seccomp.defaultAction", "", "is empty")
		}
		for i, sc := range s.Syscalls {
			if len(sc.Names) == 0 {
				errs.add(fmt.Sprintf("seccomp.syscalls[%d].names", i), "", "is empty")
			}
			for j, n := range sc.Names {
				if n == "" {
					errs.add(fmt.Sprintf("seccomp.syscalls[%d].names[%d]", i, j), "", "is empty")
				}
			}
		}
	}
	return errs.err()
}

func (o *Options) validateNamespaces(errs *errList, h *host) {
	seen := map[specs.LinuxNamespaceType]int{}
	joins := false
	for i, ns := range o.Namespaces {
		f := fmt.Sprintf("namespaces[%d]", i)
		if !slices.Contains(namespaceTypes, ns.Type) {
			errs.add(f+".type", string(ns.Type), "unknown namespace type (known: "+joinTypes(namespaceTypes)+")")
			continue
		}
		if j, dup := seen[ns.Type]; dup {
			errs.add(f+".type", string(ns.Type), fmt.Sprintf("duplicate of namespaces[%d]", j))
			continue
		}
		seen[ns.Type] = i
		if ns.Path == "" {
			continue
		}
		joins = true
		f += ".path"
		if why, ok := joinUnsupported.Get(ns.Type); ok {
			errs.unsupported(f, ns.Path, why)
			continue
		}
		if !filepath.IsAbs(ns.Path) {
			errs.add(f, ns.Path, "must be an absolute path")
			continue
		}
		t, err := h.nsType(ns.Path)
		switch {
		case err != nil:
			errs.addErr(f, ns.Path, "cannot join "+string(ns.Type)+" namespace", err)
		case t != "" && t != ns.Type:
			errs.add(f, ns.Path, fmt.Sprintf("is a %s namespace, not a %s namespace", t, ns.Type))
		}
	}

	newUser := o.NewNamespace(specs.UserNamespace)
	if newUser && joins {
		errs.unsupported("namespaces", "", "joining a namespace by path cannot be combined with a new user namespace: setns needs CAP_SYS_ADMIN in the user namespace that owns the joined namespace, and the child has capabilities only in its own new one")
	}
	if !newUser && len(o.Namespaces) > 0 && !h.privileged() {
		errs.add("namespaces", "", "creating or joining namespaces needs CAP_SYS_ADMIN: a non-root caller must also create a user namespace")
	}
	if !newUser {
		if len(o.UIDMappings) > 0 {
			errs.add("uidMappings", "", "set without a new user namespace")
		}
		if len(o.GIDMappings) > 0 {
			errs.add("gidMappings", "", "set without a new user namespace")
		}
		return
	}
	if !h.rootless() && (len(o.UIDMappings) == 0) != (len(o.GIDMappings) == 0) {
		errs.add("uidMappings", "", "a root caller gives both uidMappings and gidMappings, or neither (then the sandbox gets a range of unprivileged host ids of its own); the missing one would map host id 0")
	}
	validateIDMap(errs, h, "uidMappings", "uid", o.UIDMappings, h.euid, SubUIDFile)
	validateIDMap(errs, h, "gidMappings", "gid", o.GIDMappings, h.egid, SubGIDFile)
}

func (o *Options) validateUser(errs *errList, h *host) {
	u := o.User
	if u.Username != "" {
		errs.unsupported("user.username", u.Username, "is a Windows field; give uid and gid")
	}
	if u.Umask != nil && *u.Umask > 0o777 {
		errs.add("user.umask", fmt.Sprintf("%#o", *u.Umask), "must be at most 0777")
	}
	if o.NewNamespace(specs.UserNamespace) {
		uidMap, gidMap := o.effectiveIDMappings(h)
		if !mapped(uidMap, u.UID) {
			errs.add("user.uid", fmt.Sprint(u.UID), "is not mapped in the new user namespace: add it to uidMappings")
		}
		if !mapped(gidMap, u.GID) {
			errs.add("user.gid", fmt.Sprint(u.GID), "is not mapped in the new user namespace: add it to gidMappings")
		}
		for i, g := range u.AdditionalGids {
			if !mapped(gidMap, g) {
				errs.add(fmt.Sprintf("user.additionalGids[%d]", i), fmt.Sprint(g), "is not mapped in the new user namespace: add it to gidMappings")
			}
		}
		if h.rootless() && len(u.AdditionalGids) > 0 && !o.needsIDMapHelper(h) {
			errs.add("user.additionalGids", "", "need setgroups, which the kernel denies in a user namespace whose gid map a caller other than host root wrote itself: map subordinate gids (newgidmap, /etc/subgid; for a non-root caller) or drop them")
		}
		return
	}
	if h.euid == 0 || !o.AppliesUser() {
		// Root, of the host or of its own user namespace, may set any id
		// its namespace maps.
		return
	}
	if int64(u.UID) != int64(h.euid) || int64(u.GID) != int64(h.egid) || len(u.AdditionalGids) > 0 {
		errs.add("user", fmt.Sprintf("%d:%d", u.UID, u.GID), fmt.Sprintf(
			"a non-root caller (%d:%d) cannot change its ids without a new user namespace", h.euid, h.egid))
	}
}

// AppliesUser reports whether the child sets its ids to User. It does with a
// new user namespace, and otherwise unless User is the zero value, which
// without a user namespace keeps the caller's ids (so that zero Options
// change nothing, also for a non-root caller).
func (o *Options) AppliesUser() bool {
	if o.NewNamespace(specs.UserNamespace) {
		return true
	}
	u := o.User
	return u.UID != 0 || u.GID != 0 || len(u.AdditionalGids) > 0 || u.Umask != nil || u.Username != ""
}

func (o *Options) validateUTSAndTime(errs *errList) {
	newUTS := o.NewNamespace(specs.UTSNamespace)
	for _, v := range []struct{ field, value string }{{"hostname", o.Hostname}, {"domainname", o.Domainname}} {
		if v.value == "" {
			continue
		}
		if !newUTS {
			errs.add(v.field, v.value, "set without a new uts namespace")
		}
		if len(v.value) > 64 {
			errs.add(v.field, v.value, "longer than 64 bytes")
		}
		if strings.IndexByte(v.value, 0) >= 0 {
			errs.add(v.field, v.value, "contains a NUL byte")
		}
	}
	if len(o.TimeOffsets) == 0 {
		return
	}
	if !o.NewNamespace(specs.TimeNamespace) {
		errs.add("timeOffsets", "", "set without a new time namespace")
	}
	for _, k := range sortedKeys(o.TimeOffsets) {
		f := "timeOffsets." + k
		if k != "monotonic" && k != "boottime" {
			errs.add(f, "", "unknown clock: only monotonic and boottime can be offset")
		}
		if o.TimeOffsets[k].Nanosecs >= 1e9 {
			errs.add(f+".nanosecs", fmt.Sprint(o.TimeOffsets[k].Nanosecs), "must be below 1000000000")
		}
	}
}

func validateRlimits(errs *errList, rl []specs.POSIXRlimit) {
	seen := map[string]int{}
	for i, r := range rl {
		f := fmt.Sprintf("rlimits[%d]", i)
		if _, ok := RlimitResource(r.Type); !ok {
			reason := "unknown rlimit (known: " + strings.Join(rlimitNames, ", ") + ")"
			if up := strings.ToUpper(r.Type); up != r.Type || !strings.HasPrefix(up, "RLIMIT_") {
				if !strings.HasPrefix(up, "RLIMIT_") {
					up = "RLIMIT_" + up
				}
				if _, ok := RlimitResource(up); ok {
					reason = fmt.Sprintf("unknown rlimit (did you mean %q?)", up)
				}
			}
			errs.add(f+".type", r.Type, reason)
		} else if j, dup := seen[r.Type]; dup {
			errs.add(f+".type", r.Type, fmt.Sprintf("duplicate of rlimits[%d]", j))
		} else {
			seen[r.Type] = i
		}
		if r.Soft > r.Hard {
			errs.add(f, r.Type, fmt.Sprintf("soft limit %d is above hard limit %d", r.Soft, r.Hard))
		}
	}
}

func validateCapabilities(errs *errList, c *specs.LinuxCapabilities) {
	if c == nil {
		return
	}
	sets := []struct {
		name string
		caps []string
	}{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
		{"permitted", c.Permitted}, {"ambient", c.Ambient},
	}
	for _, s := range sets {
		for i, n := range s.caps {
			if _, err := CapabilityValue(n); err != nil {
				errs.add(fmt.Sprintf("capabilities.%s[%d]", s.name, i), "", err.Error())
			}
		}
	}
	for i, n := range c.Effective {
		if !slices.Contains(c.Permitted, n) {
			errs.add(fmt.Sprintf("capabilities.effective[%d]", i), n, "is not in the permitted set (the kernel requires effective ⊆ permitted)")
		}
	}
	for i, n := range c.Ambient {
		if !slices.Contains(c.Permitted, n) || !slices.Contains(c.Inheritable, n) {
			errs.add(fmt.Sprintf("capabilities.ambient[%d]", i), n, "is not in both the permitted and the inheritable set (the kernel requires ambient ⊆ permitted ∩ inheritable)")
		}
	}
}

func (o *Options) validateFilesystem(errs *errList, h *host) {
	newMount := o.NewNamespace(specs.MountNamespace)
	needMount := func(field string) {
		if !newMount {
			errs.add(field, "", "set without a new mount namespace")
		}
	}
	if r := o.Root; r != nil {
		needMount("root")
		switch {
		case r.Path == "":
			errs.add("root.path", "", "is empty")
		case !filepath.IsAbs(r.Path):
			errs.add("root.path", r.Path, "must be an absolute path (FromBundle resolves a bundle's relative root)")
		default:
			fi, err := h.stat(r.Path)
			if err != nil {
				errs.addErr("root.path", r.Path, "cannot be used as the root", err)
			} else if !fi.IsDir() {
				reason := "is not a directory"
				if real, err := h.evalSymlinks(r.Path); err == nil && real != filepath.Clean(r.Path) {
					reason = "resolves to " + real + ", which is not a directory"
				}
				errs.add("root.path", r.Path, reason)
			}
		}
	}
	if len(o.Mounts) > 0 {
		needMount("mounts")
	}
	newUser := o.NewNamespace(specs.UserNamespace)
	for i, m := range o.Mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if !filepath.IsAbs(m.Destination) {
			errs.add(f+".destination", m.Destination, "must be an absolute path")
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			errs.unsupported(f+".uidMappings", "", mountIDMapsWhy)
		}
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		validateMountOptions(errs, f, bind, newUser, m.Options)
		if !bind && m.Type != "tmpfs" && slices.Contains(m.Options, "tmpcopyup") {
			errs.add(f+".options", "tmpcopyup", "is an option of a tmpfs only")
		}
		switch {
		case bind && m.Type != "" && m.Type != "none" && m.Type != "bind":
			errs.add(f+".type", m.Type, "a bind mount has type bind or none, or no type")
		case bind:
			switch {
			case m.Source == "":
				errs.add(f+".source", "", "a bind mount needs a source")
			case !filepath.IsAbs(m.Source):
				errs.add(f+".source", m.Source, "must be an absolute path (FromBundle resolves a bundle's relative bind sources)")
			default:
				if _, err := h.stat(m.Source); err != nil {
					errs.addErr(f+".source", m.Source, "bind source cannot be used", err)
				}
			}
		case m.Type == "":
			errs.add(f+".type", "", "is empty and the options hold no bind or rbind")
		case !slices.Contains(mountTypes, m.Type):
			errs.add(f+".type", m.Type, "unknown mount type (known: "+strings.Join(mountTypes, ", ")+"; bind mounts may also use type none with the bind or rbind option)")
		case newUser && m.Type == "proc" && !o.NewNamespace(specs.PIDNamespace):
			errs.add(f+".type", m.Type, "proc in a new user namespace needs a new pid namespace (the kernel mounts proc only for a pid namespace the mounter's user namespace owns)")
		case newUser && m.Type == "sysfs" && !o.NewNamespace(specs.NetworkNamespace):
			errs.add(f+".type", m.Type, "sysfs in a new user namespace needs a new network namespace (or bind mount /sys with rbind instead)")
		case newUser && m.Type == "mqueue" && !o.NewNamespace(specs.IPCNamespace):
			errs.add(f+".type", m.Type, "mqueue in a new user namespace needs a new ipc namespace")
		}
	}
	for _, l := range []struct {
		field string
		paths []string
	}{{"maskedPaths", o.MaskedPaths}, {"readonlyPaths", o.ReadonlyPaths}} {
		if len(l.paths) > 0 {
			needMount(l.field)
		}
		for i, p := range l.paths {
			if !filepath.IsAbs(p) {
				errs.add(fmt.Sprintf("%s[%d]", l.field, i), p, "must be an absolute path")
			}
		}
	}
	if o.RootfsPropagation != "" {
		needMount("rootfsPropagation")
		if !slices.Contains(propagations, o.RootfsPropagation) {
			errs.add("rootfsPropagation", o.RootfsPropagation, "unknown propagation (known: "+strings.Join(propagations, ", ")+")")
		}
	}
	if l := o.Landlock; l != nil {
		for _, s := range []struct {
			field string
			paths []string
		}{{"landlock.readOnly", l.ReadOnly}, {"landlock.readWrite", l.ReadWrite}} {
			for i, p := range s.paths {
				if !filepath.IsAbs(p) {
					errs.add(fmt.Sprintf("%s[%d]", s.field, i), p, "must be an absolute path")
				}
			}
		}
	}
}

func (o *Options) validateProcess(errs *errList) {
	for i, e := range o.Env {
		f := fmt.Sprintf("env[%d]", i)
		k, _, ok := strings.Cut(e, "=")
		switch {
		case !ok:
			errs.add(f, e, "is not KEY=VALUE")
		case k == "":
			errs.add(f, e, "has an empty key")
		}
		if strings.IndexByte(e, 0) >= 0 {
			errs.add(f, e, "contains a NUL byte")
		}
	}
	if o.Cwd != "" && !filepath.IsAbs(o.Cwd) {
		errs.add("cwd", o.Cwd, "must be an absolute path")
	}
	if strings.IndexByte(o.Cwd, 0) >= 0 {
		errs.add("cwd", o.Cwd, "contains a NUL byte")
	}
}

func joinTypes(ts []specs.LinuxNamespaceType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}
