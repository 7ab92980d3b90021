package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// populated returns Options with every field set.
func populated() *Options {
	adj, umask, limit, weight := -100, uint32(0o22), int64(1<<30), uint16(100)
	return &Options{
		Namespaces:  ns(specs.UserNamespace, specs.PIDNamespace, specs.MountNamespace, specs.TimeNamespace, specs.UTSNamespace),
		UIDMappings: idmap(0, 1000, 1, 1, 100000, 65536),
		GIDMappings: idmap(0, 1000, 1),
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 3600}},
		Hostname:    "box",
		Domainname:  "example.org",
		User:        specs.User{UID: 1, GID: 0, Umask: &umask, AdditionalGids: []uint32{0}},
		Rlimits:     []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 512}},
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}, Inheritable: []string{"CAP_KILL"},
			Permitted: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"},
		},
		NoNewPrivileges:   true,
		OOMScoreAdj:       &adj,
		Seccomp:           &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64}, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}},
		Root:              &specs.Root{Path: "/srv/rootfs", Readonly: true},
		Mounts:            []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}}},
		MaskedPaths:       []string{"/proc/kcore"},
		ReadonlyPaths:     []string{"/proc/sys"},
		RootfsPropagation: "rslave",
		Resources:         &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, BlockIO: &specs.LinuxBlockIO{Weight: &weight}},
		CgroupsPath:       "/nsfork/job1",
		Env:               []string{"PATH=/bin"},
		ClearEnv:          false,
		Cwd:               "/",
		Landlock:          &Landlock{ReadOnly: []string{"/usr"}, ReadWrite: []string{"/tmp"}, BestEffort: true},
		DieWithParent:     true,
	}
}

func TestSpecRoundTrip(t *testing.T) {
	for name, o := range map[string]*Options{
		"populated":    populated(),
		"clear env":    func() *Options { o := populated(); o.ClearEnv = true; return o }(),
		"Root":         Root(),
		"Rootless":     rootless(1000, 1000, false),
		"zero":         {ClearEnv: true},
		"no landlock":  func() *Options { o := populated(); o.Landlock = nil; return o }(),
		"only process": {User: specs.User{UID: 5}},
	} {
		t.Run(name, func(t *testing.T) {
			s := o.ToSpec()
			got, err := FromSpec(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, o) {
				t.Errorf("FromSpec(ToSpec(o)) differs:\n got %+v\nwant %+v", got, o)
			}
			// And through config.json.
			b, err := json.Marshal(s)
			must(t, err)
			var s2 specs.Spec
			must(t, json.Unmarshal(b, &s2))
			got, err = FromSpec(&s2)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, o) {
				t.Errorf("through JSON:\n got %+v\nwant %+v", got, o)
			}
		})
	}
}

func TestToSpecSharesNothing(t *testing.T) {
	o := populated()
	s := o.ToSpec()
	s.Process.Env[0] = "X=1"
	s.Linux.Namespaces[0].Type = "bad"
	*s.Process.OOMScoreAdj = 7
	if !reflect.DeepEqual(o, populated()) {
		t.Error("changing the spec changed the options")
	}
	got, _ := FromSpec(s)
	got.Capabilities.Bounding[0] = "CAP_CHOWN"
	if s.Process.Capabilities.Bounding[0] != "CAP_KILL" {
		t.Error("changing the options changed the spec")
	}
}

func TestClone(t *testing.T) {
	o := populated()
	c := o.Clone()
	if !reflect.DeepEqual(o, c) {
		t.Fatal("clone differs")
	}
	c.UIDMappings[0].HostID = 5
	c.TimeOffsets["boottime"] = specs.LinuxTimeOffset{}
	*c.Resources.Memory.Limit = 1
	c.Landlock.ReadOnly[0] = "/"
	if !reflect.DeepEqual(o, populated()) {
		t.Error("changing the clone changed the original")
	}
	empty := &Options{Env: []string{}, Capabilities: &specs.LinuxCapabilities{Bounding: []string{}}}
	if c := empty.Clone(); c.Env == nil || c.Capabilities.Bounding == nil {
		t.Error("Clone turned empty slices into nil")
	}
	if (*Options)(nil).Clone() != nil {
		t.Error("nil.Clone() != nil")
	}
}

func loadSpec(t *testing.T, name string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	var s specs.Spec
	must(t, json.Unmarshal(b, &s))
	return &s
}

// bundle copies a testdata config into a fresh bundle with a rootfs.
func bundle(t *testing.T, name string) string {
	t.Helper()
	d := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(d, "config.json"), b, 0o644))
	must(t, os.Mkdir(filepath.Join(d, "rootfs"), 0o755))
	return d
}

// runc spec puts the ambient capabilities in no inheritable set, which the
// kernel refuses; nsfork fails closed on that, and with the inheritable set
// filled in the config validates.
func fixAmbient(o *Options) { o.Capabilities.Inheritable = slices.Clone(o.Capabilities.Ambient) }

func TestFromSpecRunc(t *testing.T) {
	s := loadSpec(t, "runc-spec.json")
	if !s.Process.Terminal {
		t.Fatal("testdata: expected terminal: true")
	}
	o, err := FromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if !o.NewNamespace(specs.NetworkNamespace) || o.NewNamespace(specs.UserNamespace) || o.Hostname != "runc" ||
		!o.ClearEnv || len(o.Env) != 2 || o.Cwd != "/" || !o.NoNewPrivileges || o.Root.Path != "rootfs" ||
		len(o.Mounts) != 7 || len(o.MaskedPaths) == 0 || o.Resources == nil || o.Rlimits[0].Type != "RLIMIT_NOFILE" {
		t.Errorf("FromSpec(runc spec) = %+v", o)
	}
	if got := SpecArgs(s); !reflect.DeepEqual(got, []string{"sh"}) {
		t.Errorf("SpecArgs = %v", got)
	}

	dir := bundle(t, "runc-spec.json")
	o, args, err := FromBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.Root.Path != filepath.Join(dir, "rootfs") || !reflect.DeepEqual(args, []string{"sh"}) {
		t.Errorf("FromBundle: root %q, args %v", o.Root.Path, args)
	}
	err = o.validate(rootHost)
	if err == nil || !strings.Contains(err.Error(), "sandbox: capabilities.ambient[0]") {
		t.Fatalf("want the ambient set rejected, got %v", err)
	}
	fixAmbient(o)
	if err := o.validate(rootHost); err != nil {
		t.Errorf("runc spec with inheritable = ambient: %v", err)
	}
}

func TestFromSpecRuncRootless(t *testing.T) {
	dir := bundle(t, "runc-spec-rootless.json")
	o, _, err := FromBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !o.NewNamespace(specs.UserNamespace) || o.NewNamespace(specs.NetworkNamespace) || len(o.UIDMappings) != 1 {
		t.Errorf("FromBundle(runc spec --rootless) = %+v", o)
	}
	fixAmbient(o)
	// The file was made by root, so it maps host id 0; as uid 1000 map 1000.
	if err := o.validate(rootHost); err != nil {
		t.Errorf("as root: %v", err)
	}
	o.UIDMappings, o.GIDMappings = idmap(0, 1000, 1), idmap(0, 1000, 1)
	if err := o.validate(rootlessHost); err != nil {
		t.Errorf("as uid 1000: %v", err)
	}
	if o.needsIDMapHelper(rootlessHost) {
		t.Error("own-id maps need no helper")
	}
}

func TestFromSpecUnsupported(t *testing.T) {
	for field, mod := range map[string]func(s *specs.Spec){
		//lint:ignore SA1019 a deprecated hook must still be refused
		"hooks.prestart":          func(s *specs.Spec) { s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}}} },
		"hooks.poststop":          func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}}} },
		"process.apparmorProfile": func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" },
		"process.selinuxLabel":    func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:svirt_lxc_net_t:s0" },
		"process.scheduler":       func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch} },
		"process.ioPriority":      func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE} },
		"process.execCPUAffinity": func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "0"} },
		"process.commandLine":     func(s *specs.Spec) { s.Process.CommandLine = "cmd.exe" },
		"linux.devices":           func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c"}} },
		"linux.sysctl":            func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "10"} },
		"linux.netDevices":        func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}} },
		"linux.mountLabel":        func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:svirt_sandbox_file_t:s0" },
		"linux.intelRdt":          func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} },
		"linux.memoryPolicy":      func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} },
		"linux.personality":       func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} },
		"windows":                 func(s *specs.Spec) { s.Windows = &specs.Windows{} },
		"solaris":                 func(s *specs.Spec) { s.Solaris = &specs.Solaris{} },
		"vm":                      func(s *specs.Spec) { s.VM = &specs.VM{} },
		"zos":                     func(s *specs.Spec) { s.ZOS = &specs.ZOS{} },
		"freebsd":                 func(s *specs.Spec) { s.FreeBSD = &specs.FreeBSD{} },
		"ociVersion":              func(s *specs.Spec) { s.Version = "2.0.0" },
		"annotations." + AnnotationPrefix + "clearenv": func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationPrefix + "clearenv": "false"}
		},
		"annotations." + AnnotationLandlock: func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationLandlock: "{"}
		},
	} {
		t.Run(field, func(t *testing.T) {
			s := loadSpec(t, "runc-spec.json")
			mod(s)
			_, err := FromSpec(s)
			if err == nil {
				t.Fatal("FromSpec accepted it")
			}
			if !strings.Contains(err.Error(), "sandbox: "+field) {
				t.Errorf("error does not name %s: %v", field, err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%v is no *Error", err)
			}
			if !strings.HasPrefix(field, "annotations.") && !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("not ErrUnsupported: %v", err)
			}
		})
	}
	// Set but empty is harmless.
	s := loadSpec(t, "runc-spec.json")
	s.Hooks, s.Linux.Sysctl, s.Annotations = &specs.Hooks{}, map[string]string{}, map[string]string{"org.example": "x"}
	if _, err := FromSpec(s); err != nil {
		t.Errorf("empty hooks and sysctl, foreign annotation: %v", err)
	}
	if _, err := FromSpec(nil); err == nil {
		t.Error("FromSpec(nil) succeeded")
	}
}

func TestFromBundleErrors(t *testing.T) {
	if _, _, err := FromBundle(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing config.json: %v", err)
	}
	d := t.TempDir()
	must(t, os.WriteFile(filepath.Join(d, "config.json"), []byte("{"), 0o644))
	if _, _, err := FromBundle(d); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad config.json: %v", err)
	}
	s := &specs.Spec{Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "data"}, {Destination: "/t", Type: "tmpfs", Source: "tmpfs"}}}
	b, _ := json.Marshal(s)
	must(t, os.WriteFile(filepath.Join(d, "config.json"), b, 0o644))
	o, _, err := FromBundle(d)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mounts[0].Source != filepath.Join(d, "data") || o.Mounts[1].Source != "tmpfs" {
		t.Errorf("sources: %q %q", o.Mounts[0].Source, o.Mounts[1].Source)
	}
}
