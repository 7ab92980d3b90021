package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotations carry the nsfork extensions of Options (ClearEnv, Landlock,
// DieWithParent) in an OCI config, so that ToSpec and FromSpec lose nothing.
// Every annotation key starting with AnnotationPrefix must be one of these.
const (
	AnnotationPrefix        = "com.github.nsfork."
	AnnotationClearEnv      = AnnotationPrefix + "clearEnv"      // "false" keeps the parent's environment
	AnnotationLandlock      = AnnotationPrefix + "landlock"      // Landlock as JSON
	AnnotationDieWithParent = AnnotationPrefix + "dieWithParent" // "true" or "false"
	// AnnotationNewSessionKeyring "false" keeps the caller's session
	// keyring; without it a config gets a new one, as runc gives.
	AnnotationNewSessionKeyring = AnnotationPrefix + "newSessionKeyring"
	AnnotationIDRangeKey        = AnnotationPrefix + "idRangeKey" // Options.IDRangeKey
	// AnnotationKeepCapabilities "true" with no process.capabilities
	// keeps the capabilities the process has (Options.Capabilities nil);
	// without it an absent process.capabilities means none, as in runc.
	AnnotationKeepCapabilities = AnnotationPrefix + "keepCapabilities"
	// AnnotationKeepUmask "true" with no process.user.umask keeps the
	// caller's umask (Options.User.Umask nil); without it an absent umask
	// is 0022, as runc sets it.
	AnnotationKeepUmask = AnnotationPrefix + "keepUmask"
	// AnnotationKeepCwd "true" with an empty process.cwd keeps the
	// caller's working directory (Options.Cwd ""); without it a process
	// without cwd is refused, as runc refuses it.
	AnnotationKeepCwd = AnnotationPrefix + "keepCwd"
)

// DefaultUmask is the umask of an OCI process whose config gives none, as
// runc sets it.
const DefaultUmask = 0o022

// FromSpec turns an OCI runtime configuration into Options. It takes
// everything Options can say: process.user, env (with ClearEnv, since an OCI
// process starts from exactly that environment), cwd, capabilities,
// rlimits, noNewPrivileges and oomScoreAdj; root, hostname, domainname and
// mounts; linux.namespaces, uidMappings, gidMappings, timeOffsets,
// maskedPaths, readonlyPaths, rootfsPropagation, resources, cgroupsPath,
// seccomp and sysctl (only the sysctls a namespace of the container's own
// holds, as runc allows them; any other is refused, naming linux.sysctl
// and the key); and the nsfork annotations (see AnnotationPrefix).
//
// A field that has no place in Options is an *Error naming it that matches
// errors.ErrUnsupported, never silently dropped: hooks, apparmorProfile,
// selinuxLabel, scheduler, ioPriority, execCPUAffinity, commandLine,
// linux.devices, netDevices, mountLabel, intelRdt, memoryPolicy,
// personality and the sections of other platforms. Three fields are
// accepted and left to the caller because they describe how to start the
// command rather than how to isolate it: process.args (see SpecArgs),
// process.terminal and process.consoleSize (a command-line tool gives the
// child a terminal itself; a function has none). Other annotations are
// metadata and ignored.
//
// Absent fields mean what they mean to runc: no process.capabilities is
// five empty sets (Options.Capabilities non-nil and empty), unless the
// annotation AnnotationKeepCapabilities (written by ToSpec for Options that
// keep the process's capabilities) says otherwise; a process without
// user.umask gets DefaultUmask, unless AnnotationKeepUmask says otherwise. An explicit empty
// linux.maskedPaths or linux.readonlyPaths, which to runc means "none", is
// refused: in Options an empty list means runc's default list, and the two
// would be one after a JSON round trip; to mask nothing, list a path that
// does not exist. A process without cwd is refused, as runc refuses it,
// unless AnnotationKeepCwd (ToSpec's, for Options without Cwd) is "true".
// linux.resources.memory.useHierarchy and a true
// checkBeforeUpdate are refused: the cgroup code never writes them.
//
// FromSpec does not validate what it takes (call Validate) and keeps paths
// as they are: a relative root.path or bind source is relative to the
// bundle, which FromBundle resolves. The result shares no memory with s.
func FromSpec(s *specs.Spec) (*Options, error) {
	if s == nil {
		return nil, &Error{Field: "spec", Reason: "is nil"}
	}
	var errs errList
	if s.Version != "" && !strings.HasPrefix(s.Version, "1.") {
		errs.unsupported("ociVersion", s.Version, "nsfork reads runtime-spec 1.x configurations")
	}
	o := &Options{ClearEnv: true, Capabilities: &specs.LinuxCapabilities{}}
	if p := s.Process; p != nil && p.Capabilities != nil {
		o.Capabilities = p.Capabilities
	}
	if p := s.Process; p != nil {
		if keep, _ := strconv.ParseBool(s.Annotations[AnnotationKeepCwd]); p.Cwd == "" && !keep {
			errs.add("process.cwd", "", "is absent: the runtime-spec requires it (runc refuses a process without one); give an absolute path, \"/\" for the root")
		}
		o.User = p.User
		o.Env = p.Env
		o.Cwd = p.Cwd
		o.Rlimits = p.Rlimits
		o.NoNewPrivileges = p.NoNewPrivileges
		o.OOMScoreAdj = p.OOMScoreAdj
		unsupported(&errs, "process.commandLine", p.CommandLine)
		unsupported(&errs, "process.apparmorProfile", p.ApparmorProfile)
		unsupported(&errs, "process.selinuxLabel", p.SelinuxLabel)
		unsupported(&errs, "process.scheduler", p.Scheduler)
		unsupported(&errs, "process.ioPriority", p.IOPriority)
		unsupported(&errs, "process.execCPUAffinity", p.ExecCPUAffinity)
	}
	if o.User.Umask == nil {
		u := uint32(DefaultUmask)
		o.User.Umask = &u
	}
	o.Root = s.Root
	o.Hostname = s.Hostname
	o.Domainname = s.Domainname
	o.Mounts = s.Mounts
	if h := s.Hooks; h != nil {
		v := reflect.ValueOf(*h)
		for i := range v.NumField() {
			if v.Field(i).Len() > 0 {
				errs.unsupported("hooks."+jsonName(v.Type().Field(i)), "", "nsfork runs no hooks")
			}
		}
	}
	unsupported(&errs, "solaris", s.Solaris)
	unsupported(&errs, "windows", s.Windows)
	unsupported(&errs, "vm", s.VM)
	unsupported(&errs, "zos", s.ZOS)
	unsupported(&errs, "freebsd", s.FreeBSD)
	if l := s.Linux; l != nil {
		o.UIDMappings = l.UIDMappings
		o.GIDMappings = l.GIDMappings
		o.Resources = l.Resources
		o.CgroupsPath = l.CgroupsPath
		o.Namespaces = l.Namespaces
		o.Seccomp = l.Seccomp
		o.RootfsPropagation = l.RootfsPropagation
		o.MaskedPaths = l.MaskedPaths
		o.ReadonlyPaths = l.ReadonlyPaths
		o.TimeOffsets = l.TimeOffsets
		for _, e := range []struct {
			field string
			paths []string
			what  string
		}{{"linux.maskedPaths", l.MaskedPaths, "mask"}, {"linux.readonlyPaths", l.ReadonlyPaths, "make read-only"}} {
			if e.paths != nil && len(e.paths) == 0 {
				errs.unsupported(e.field, "", "an explicit empty list (to runc: "+e.what+" nothing) is refused: nsfork reads an empty list as runc's default list, the only reading that survives Options' JSON; to "+e.what+" nothing, list a path that does not exist, or leave the field out for the default list")
			}
		}
		validateResources(&errs, "linux.resources", l.Resources)
		o.Sysctl = l.Sysctl
		validateSysctl(&errs, "linux.sysctl", l.Sysctl, l.Namespaces, s.Domainname, nil)
		unsupported(&errs, "linux.devices", l.Devices)
		unsupported(&errs, "linux.netDevices", l.NetDevices)
		unsupported(&errs, "linux.mountLabel", l.MountLabel)
		unsupported(&errs, "linux.intelRdt", l.IntelRdt)
		unsupported(&errs, "linux.memoryPolicy", l.MemoryPolicy)
		unsupported(&errs, "linux.personality", l.Personality)
	}
	o.NewSessionKeyring = true
	for _, k := range sortedKeys(s.Annotations) {
		if !strings.HasPrefix(k, AnnotationPrefix) {
			continue
		}
		v, f := s.Annotations[k], "annotations."+k
		var err error
		switch k {
		case AnnotationClearEnv:
			o.ClearEnv, err = strconv.ParseBool(v)
		case AnnotationDieWithParent:
			o.DieWithParent, err = strconv.ParseBool(v)
		case AnnotationNewSessionKeyring:
			o.NewSessionKeyring, err = strconv.ParseBool(v)
		case AnnotationIDRangeKey:
			o.IDRangeKey = v
		case AnnotationKeepCwd:
			var keep bool
			if keep, err = strconv.ParseBool(v); err == nil && keep && s.Process != nil && s.Process.Cwd != "" {
				errs.add(f, v, "contradicts process.cwd, which is set")
				continue
			}
		case AnnotationKeepUmask:
			var keep bool
			if keep, err = strconv.ParseBool(v); err == nil && keep {
				if s.Process != nil && s.Process.User.Umask != nil {
					errs.add(f, v, "contradicts process.user.umask, which is set")
					continue
				}
				o.User.Umask = nil
			}
		case AnnotationKeepCapabilities:
			var keep bool
			if keep, err = strconv.ParseBool(v); err == nil && keep {
				if s.Process != nil && s.Process.Capabilities != nil {
					errs.add(f, v, "contradicts process.capabilities, which is set")
					continue
				}
				o.Capabilities = nil
			}
		case AnnotationLandlock:
			o.Landlock = new(Landlock)
			err = json.Unmarshal([]byte(v), o.Landlock)
		default:
			errs.add(f, "", "unknown nsfork annotation")
			continue
		}
		if err != nil {
			errs.addErr(f, v, "cannot be parsed", err)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return o.Clone(), nil
}

// unsupported records an error for a field of the OCI config that is set
// and that nsfork cannot honour.
func unsupported(errs *errList, field string, v any) {
	rv := reflect.ValueOf(v)
	set := !rv.IsZero()
	if k := rv.Kind(); k == reflect.Slice || k == reflect.Map {
		set = rv.Len() > 0
	}
	if set {
		errs.unsupported(field, "", "is set and nsfork cannot honour it")
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// SpecArgs returns the command an OCI configuration runs, process.args, or
// nil. FromSpec leaves it out of Options: what runs is the caller's choice.
func SpecArgs(s *specs.Spec) []string {
	if s == nil || s.Process == nil {
		return nil
	}
	return slices.Clone(s.Process.Args)
}

// FromBundle reads dir/config.json of an OCI bundle and returns its Options
// (see FromSpec) and its process.args. A relative root.path and relative
// bind mount sources are made absolute against dir, as the runtime-spec
// defines them.
func FromBundle(dir string) (*Options, []string, error) {
	return FromConfigFile(filepath.Join(dir, "config.json"))
}

// FromConfigFile reads an OCI config.json at any path, like FromBundle with
// the file's directory as the bundle. A member of the JSON text that names
// no field of the runtime-spec is an error naming its path (see
// CheckConfigFields), never dropped.
func FromConfigFile(path string) (*Options, []string, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(path)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckConfigFields(b); err != nil {
		return nil, nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("sandbox: %s: %w", path, err)
	}
	o, err := FromSpec(&s)
	if err != nil {
		return nil, nil, err
	}
	ResolveBundlePaths(dir, o.Root, o.Mounts)
	return o, SpecArgs(&s), nil
}

// ResolveBundlePaths makes a relative root.path and relative bind mount
// sources absolute against the bundle directory dir, as the runtime-spec
// defines them.
func ResolveBundlePaths(dir string, root *specs.Root, mounts []specs.Mount) {
	if root != nil && root.Path != "" && !filepath.IsAbs(root.Path) {
		root.Path = filepath.Join(dir, root.Path)
	}
	for i, m := range mounts {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if bind && m.Source != "" && !filepath.IsAbs(m.Source) {
			mounts[i].Source = filepath.Join(dir, m.Source)
		}
	}
}

// ToSpec returns an OCI configuration that says what o says, with the nsfork
// extensions as annotations, so that FromSpec(o.ToSpec()) equals o. Its
// process.args is empty for the caller to fill in. The result shares no
// memory with o.
func (o *Options) ToSpec() *specs.Spec {
	c := o.Clone()
	if c == nil {
		c = &Options{ClearEnv: true}
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			User:            c.User,
			Env:             c.Env,
			Cwd:             c.Cwd,
			Capabilities:    c.Capabilities,
			Rlimits:         c.Rlimits,
			NoNewPrivileges: c.NoNewPrivileges,
			OOMScoreAdj:     c.OOMScoreAdj,
		},
		Root:       c.Root,
		Hostname:   c.Hostname,
		Domainname: c.Domainname,
		Mounts:     c.Mounts,
	}
	l := &specs.Linux{
		UIDMappings:       c.UIDMappings,
		GIDMappings:       c.GIDMappings,
		Resources:         c.Resources,
		CgroupsPath:       c.CgroupsPath,
		Namespaces:        c.Namespaces,
		Seccomp:           c.Seccomp,
		RootfsPropagation: c.RootfsPropagation,
		TimeOffsets:       c.TimeOffsets,
		Sysctl:            c.Sysctl,
	}
	// An empty list in Options means the default list, which a config
	// says by leaving the field out (an explicit [] would mean none).
	if len(c.MaskedPaths) > 0 {
		l.MaskedPaths = c.MaskedPaths
	}
	if len(c.ReadonlyPaths) > 0 {
		l.ReadonlyPaths = c.ReadonlyPaths
	}
	if !reflect.ValueOf(*l).IsZero() {
		s.Linux = l
	}
	a := map[string]string{}
	if !c.ClearEnv {
		a[AnnotationClearEnv] = "false"
	}
	if c.DieWithParent {
		a[AnnotationDieWithParent] = "true"
	}
	if !c.NewSessionKeyring {
		a[AnnotationNewSessionKeyring] = "false"
	}
	if c.IDRangeKey != "" {
		a[AnnotationIDRangeKey] = c.IDRangeKey
	}
	if c.Capabilities == nil {
		a[AnnotationKeepCapabilities] = "true"
	}
	if c.User.Umask == nil {
		a[AnnotationKeepUmask] = "true"
	}
	if c.Cwd == "" {
		a[AnnotationKeepCwd] = "true"
	}
	if c.Landlock != nil {
		b, _ := json.Marshal(c.Landlock) // plain data: cannot fail
		a[AnnotationLandlock] = string(b)
	}
	if len(a) > 0 {
		s.Annotations = a
	}
	return s
}
