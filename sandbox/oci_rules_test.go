package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specJSON returns testdata/runc-spec.json as a generic JSON tree, to be
// edited field by field.
func specJSON(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "runc-spec.json"))
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	return m
}

func obj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// errorFields lists the fields of the *Error values err is or joins.
func errorFields(err error) []string {
	if e, ok := err.(*Error); ok {
		return []string{e.Field}
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, x := range j.Unwrap() {
			out = append(out, errorFields(x)...)
		}
	}
	return out
}

func TestCheckConfigFields(t *testing.T) {
	clean := specJSON(t)
	b, _ := json.Marshal(clean)
	if err := CheckConfigFields(b); err != nil {
		t.Fatalf("runc spec: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want []string // error paths
		hint string   // a suggestion the message holds
	}{
		{"top", func(m map[string]any) { m["hostName"] = "x" }, []string{"hostName"}, `"hostname"`},
		{"process", func(m map[string]any) { obj(m, "process")["noNewPrivilege"] = true }, []string{"process.noNewPrivilege"}, `"noNewPrivileges"`},
		{"capabilities", func(m map[string]any) { obj(m, "process", "capabilities")["boundng"] = []any{} }, []string{"process.capabilities.boundng"}, `"bounding"`},
		{"rlimit", func(m map[string]any) {
			obj(m, "process")["rlimits"].([]any)[0].(map[string]any)["sofft"] = 1
		}, []string{"process.rlimits[0].sofft"}, `"soft"`},
		{"mount", func(m map[string]any) {
			m["mounts"].([]any)[2].(map[string]any)["option"] = []any{"ro"}
		}, []string{"mounts[2].option"}, `"options"`},
		{"memory", func(m map[string]any) {
			obj(m, "linux", "resources")["memory"] = map[string]any{"limit": 1 << 30, "useHierachy": true}
		}, []string{"linux.resources.memory.useHierachy"}, `"useHierarchy"`},
		{"embedded", func(m map[string]any) {
			obj(m, "linux", "resources")["blockIO"] = map[string]any{"weightDevice": []any{map[string]any{"major": 8, "minor": 0, "weight": 10, "wieght": 1}}}
		}, []string{"linux.resources.blockIO.weightDevice[0].wieght"}, `"weight"`},
		{"case", func(m map[string]any) {
			obj(m, "linux")["uidMappings"] = []any{map[string]any{"containerId": 0, "hostId": 1000, "size": 1}}
		}, []string{"linux.uidMappings[0].containerId", "linux.uidMappings[0].hostId"}, `"containerID"`},
		{"seccomp", func(m map[string]any) {
			obj(m, "linux")["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []any{map[string]any{"name": []any{"read"}, "action": "SCMP_ACT_ERRNO"}}}
		}, []string{"linux.seccomp.syscalls[0].name"}, `"names"`},
		{"map value", func(m map[string]any) {
			obj(m, "linux")["timeOffsets"] = map[string]any{"monotonic": map[string]any{"sec": 1}}
		}, []string{"linux.timeOffsets.monotonic.sec"}, `"secs"`},
		{"several", func(m map[string]any) {
			obj(m, "process")["noNewPrivilege"] = true
			obj(m, "root")["readOnly"] = true
			m["mount"] = []any{}
		}, []string{"mount", "process.noNewPrivilege", "root.readOnly"}, `"mounts"`},
		{"no suggestion", func(m map[string]any) { obj(m, "process")["zzzzzzzzzz"] = 1 }, []string{"process.zzzzzzzzzz"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := specJSON(t)
			tc.edit(m)
			b, _ := json.Marshal(m)
			err := CheckConfigFields(b)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := errorFields(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fields %q, want %q (%v)", got, tc.want, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("not ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want[0]+": unknown field") {
				t.Errorf("message %q does not say %q", err, tc.want[0]+": unknown field")
			}
			if tc.hint != "" && !strings.Contains(err.Error(), "did you mean "+tc.hint) {
				t.Errorf("message %q does not suggest %s", err, tc.hint)
			}
			if tc.hint == "" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("message %q suggests something", err)
			}

			// Through FromBundle, before anything else is read.
			d := t.TempDir()
			must(t, os.WriteFile(filepath.Join(d, "config.json"), b, 0o644))
			if _, _, err := FromBundle(d); err == nil || !strings.Contains(err.Error(), tc.want[0]+": unknown field") {
				t.Errorf("FromBundle: %v", err)
			}
		})
	}

	// Free-form maps stay free-form, at any key.
	m := specJSON(t)
	m["annotations"] = map[string]any{"org.example.anything": "x", "noNewPrivilege": "y"}
	obj(m, "linux")["sysctl"] = map[string]any{"net.core.somaxconn": "1"}
	obj(m, "linux", "resources")["unified"] = map[string]any{"memory.high": "1G"}
	b, _ = json.Marshal(m)
	if err := CheckConfigFields(b); err != nil {
		t.Errorf("free-form maps: %v", err)
	}
	// Invalid JSON is left to the decoder.
	if err := CheckConfigFields([]byte("{")); err != nil {
		t.Errorf("invalid JSON: %v", err)
	}
	// Options' own JSON is a different shape: a field only Options has is
	// unknown in a config.
	b, _ = json.Marshal(map[string]any{"clearEnv": true})
	if err := CheckConfigFields(b); err == nil {
		t.Error("clearEnv accepted as a config field")
	}
}

func TestFromSpecAbsentCapabilities(t *testing.T) {
	s := loadSpec(t, "runc-spec.json")
	s.Process.Capabilities = nil
	o, err := FromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if o.Capabilities == nil || !reflect.ValueOf(*o.Capabilities).IsZero() {
		t.Errorf("absent process.capabilities: %+v, want five empty sets", o.Capabilities)
	}
	s.Process = nil
	if o, err = FromSpec(s); err != nil || o.Capabilities == nil || !reflect.ValueOf(*o.Capabilities).IsZero() {
		t.Errorf("absent process: %+v, %v", o.Capabilities, err)
	}

	// Options that keep the process's capabilities say so in an annotation.
	keep := &Options{Namespaces: ns(specs.PIDNamespace)}
	sp := keep.ToSpec()
	if sp.Annotations[AnnotationKeepCapabilities] != "true" || sp.Process.Capabilities != nil {
		t.Fatalf("ToSpec of nil capabilities: %v %+v", sp.Annotations, sp.Process.Capabilities)
	}
	if back, err := FromSpec(sp); err != nil || back.Capabilities != nil {
		t.Errorf("round trip of nil capabilities: %+v, %v", back.Capabilities, err)
	}
	none := &Options{Capabilities: &specs.LinuxCapabilities{}}
	sp = none.ToSpec()
	if _, ok := sp.Annotations[AnnotationKeepCapabilities]; ok {
		t.Error("ToSpec of empty capabilities writes keepCapabilities")
	}
	if back, err := FromSpec(sp); err != nil || back.Capabilities == nil {
		t.Errorf("round trip of empty capabilities: %+v, %v", back.Capabilities, err)
	}
	// The annotation and a set of capabilities contradict each other.
	s = loadSpec(t, "runc-spec.json")
	s.Annotations = map[string]string{AnnotationKeepCapabilities: "true"}
	if _, err := FromSpec(s); err == nil || !strings.Contains(err.Error(), "annotations."+AnnotationKeepCapabilities) {
		t.Errorf("keepCapabilities with capabilities: %v", err)
	}
	s.Annotations[AnnotationKeepCapabilities] = "false"
	if o, err := FromSpec(s); err != nil || len(o.Capabilities.Bounding) == 0 {
		t.Errorf("keepCapabilities false: %v", err)
	}
}

func TestFromSpecEmptyProtectLists(t *testing.T) {
	for _, field := range []string{"maskedPaths", "readonlyPaths"} {
		m := specJSON(t)
		obj(m, "linux")[field] = []any{}
		b, _ := json.Marshal(m)
		d := t.TempDir()
		must(t, os.WriteFile(filepath.Join(d, "config.json"), b, 0o644))
		_, _, err := FromBundle(d)
		if err == nil || !strings.Contains(err.Error(), "sandbox: linux."+field+": an explicit empty list") || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: []: %v", field, err)
		}
		delete(obj(m, "linux"), field)
		b, _ = json.Marshal(m)
		must(t, os.WriteFile(filepath.Join(d, "config.json"), b, 0o644))
		if o, _, err := FromBundle(d); err != nil {
			t.Errorf("%s absent: %v", field, err)
		} else if f := reflect.ValueOf(*o).FieldByName(map[string]string{"maskedPaths": "MaskedPaths", "readonlyPaths": "ReadonlyPaths"}[field]); f.Len() != 0 {
			t.Errorf("%s absent: %v", field, f)
		}
	}
	// Options' empty lists (the defaults) travel as absent fields.
	o := &Options{MaskedPaths: []string{}, ReadonlyPaths: []string{}, Capabilities: &specs.LinuxCapabilities{}}
	if _, err := FromSpec(o.ToSpec()); err != nil {
		t.Errorf("round trip of empty lists: %v", err)
	}
}

func TestResourcesNotWritten(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		mem   specs.LinuxMemory
		field string
	}{
		{specs.LinuxMemory{UseHierarchy: &yes}, "memory.useHierarchy"},
		{specs.LinuxMemory{UseHierarchy: &no}, "memory.useHierarchy"},
		{specs.LinuxMemory{CheckBeforeUpdate: &yes}, "memory.checkBeforeUpdate"},
		{specs.LinuxMemory{CheckBeforeUpdate: &no}, ""},
	} {
		s := loadSpec(t, "runc-spec.json")
		s.Linux.Resources.Memory = &tc.mem
		_, err := FromSpec(s)
		o := &Options{Resources: &specs.LinuxResources{Memory: &tc.mem}}
		verr := o.validate(rootHost)
		if tc.field == "" {
			if err != nil || verr != nil {
				t.Errorf("%+v: %v / %v", tc.mem, err, verr)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "sandbox: linux.resources."+tc.field) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("FromSpec %s: %v", tc.field, err)
		}
		if verr == nil || !strings.Contains(verr.Error(), "sandbox: resources."+tc.field) || !errors.Is(verr, errors.ErrUnsupported) {
			t.Errorf("Validate %s: %v", tc.field, verr)
		}
	}
}

func TestMountOptions(t *testing.T) {
	src := t.TempDir()
	check := func(userns bool, m specs.Mount) error {
		o := &Options{Namespaces: ns(specs.MountNamespace, specs.PIDNamespace), Mounts: []specs.Mount{m}}
		if userns {
			o.Namespaces = ns(specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace)
		}
		return o.validate(rootHost)
	}
	bind := func(opts ...string) specs.Mount {
		return specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)}
	}
	tmpfs := func(opts ...string) specs.Mount {
		return specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	refused := func(name string, userns bool, m specs.Mount, opt string, unsupported bool) {
		t.Helper()
		err := check(userns, m)
		want := `sandbox: mounts[0].options "` + opt + `": `
		if opt == "" {
			want = "sandbox: mounts[0].options: "
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s...", name, err, want)
			return
		}
		if errors.Is(err, errors.ErrUnsupported) != unsupported {
			t.Errorf("%s: ErrUnsupported is %v: %v", name, !unsupported, err)
		}
	}
	// The runtime-spec options nsfork does not apply: refused on a bind and
	// on a new file system, where the kernel would have read them as data.
	for _, opt := range []string{"remount", "defaults", "iversion"} {
		if MountOption(opt) != MountOptionUnsupported {
			t.Errorf("MountOption(%q) = %v", opt, MountOption(opt))
		}
		refused("bind "+opt, false, bind("ro", opt), opt, true)
		refused("tmpfs "+opt, true, tmpfs(opt), opt, true)
	}
	// idmap and ridmap: a bind in a new user namespace only (the
	// launcher maps it through that namespace), never a new file system.
	for _, opt := range []string{"idmap", "ridmap"} {
		if MountOption(opt) != MountOptionIDMap {
			t.Errorf("MountOption(%q) = %v", opt, MountOption(opt))
		}
		if err := check(true, bind(opt)); err != nil {
			t.Errorf("bind %s in a user namespace: %v", opt, err)
		}
		refused("bind "+opt+" without a user namespace", false, bind(opt), opt, false)
		refused("tmpfs "+opt, true, tmpfs(opt), opt, false)
	}
	// The recursive attributes are applied, on a bind and on a new file
	// system; their atime forms, like the plain ones, not on a bind in a
	// new user namespace.
	for _, opt := range RecursiveMountOptions {
		if MountOption(opt) != MountOptionRecursive {
			t.Errorf("MountOption(%q) = %v", opt, MountOption(opt))
		}
		if err := check(false, bind(opt)); err != nil {
			t.Errorf("bind %s: %v", opt, err)
		}
		if err := check(true, tmpfs(opt)); err != nil {
			t.Errorf("tmpfs %s: %v", opt, err)
		}
		atime := strings.HasSuffix(opt, "atime") && !strings.HasSuffix(opt, "diratime")
		err := check(true, bind(opt))
		if atime {
			refused("bind userns "+opt, true, bind(opt), opt, false)
		} else if err != nil {
			t.Errorf("bind in a user namespace %s: %v", opt, err)
		}
		if (MountOption(opt[1:]) == MountOptionAtime) != atime {
			t.Errorf("%s: the plain option %q is of kind %v", opt, opt[1:], MountOption(opt[1:]))
		}
	}
	// tmpcopyup: a tmpfs's option only.
	if MountOption("tmpcopyup") != MountOptionCopyUp {
		t.Errorf("tmpcopyup is %v", MountOption("tmpcopyup"))
	}
	if err := check(true, tmpfs("tmpcopyup")); err != nil {
		t.Errorf("tmpfs tmpcopyup: %v", err)
	}
	refused("bind tmpcopyup", false, bind("tmpcopyup"), "tmpcopyup", false)
	refused("proc tmpcopyup", false, specs.Mount{Destination: "/mnt", Type: "proc", Source: "proc", Options: []string{"tmpcopyup"}}, "tmpcopyup", false)
	// A bind reads no file-system data and sets no superblock flag.
	refused("bind data", false, bind("size=1m"), "size=1m", false)
	refused("bind typo", false, bind("rdonly"), "rdonly", false)
	refused("bind sync", false, bind("sync"), "sync", false)
	refused("bind none", false, specs.Mount{Destination: "/mnt", Type: "none", Source: src, Options: []string{"bind", "mode=755"}}, "mode=755", false)
	refused("empty", false, tmpfs(""), "", false)
	// In a new user namespace the kernel locks a bind's atime mode.
	refused("bind atime userns", true, bind("noatime"), "noatime", false)
	if err := check(false, bind("noatime")); err != nil {
		t.Errorf("bind noatime without a user namespace: %v", err)
	}
	// What nsinit applies is accepted.
	for _, opts := range [][]string{
		{"ro", "nosuid", "nodev", "noexec", "nosymfollow", "nodiratime", "rslave"},
		{"rw", "suid", "dev", "exec", "symfollow", "diratime", "private", "async", "nomand", "loud", "silent"},
	} {
		if err := check(true, bind(opts...)); err != nil {
			t.Errorf("bind %v: %v", opts, err)
		}
	}
	if err := check(false, tmpfs("nosuid", "strictatime", "mode=755", "size=65536k", "sync", "dirsync", "lazytime", "shared", "noatime")); err != nil {
		t.Errorf("tmpfs: %v", err)
	}
	// Every known option has a kind, and its name says it.
	for _, p := range mountOptionKinds {
		opt, k := p.Key, p.Val
		if _, dup := unsupportedMountOptions.Get(opt); dup {
			t.Errorf("%q is both %v and unsupported", opt, k)
		}
		if k.String() == "" || strings.HasPrefix(k.String(), "MountOptionKind(") {
			t.Errorf("%q: kind %d has no name", opt, k)
		}
	}
	if MountOption("uid=1000") != MountOptionData {
		t.Error("uid=1000 is not data")
	}
	// The presets and the view's mounts pass.
	for _, m := range []specs.Mount{BindRW(src), BindRO(src), HostDevices(), ProcMount("/proc"), DevMount("/dev")} {
		if err := check(true, m); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
}

func TestFromSpecAbsentUmask(t *testing.T) {
	s := loadSpec(t, "runc-spec.json")
	if s.Process.User.Umask != nil {
		t.Fatal("testdata: runc spec has no umask")
	}
	o, err := FromSpec(s)
	if err != nil || o.User.Umask == nil || *o.User.Umask != 0o022 {
		t.Fatalf("absent umask: %v, %v; want 0022 as runc", o.User.Umask, err)
	}
	s.Process = nil
	if o, err := FromSpec(s); err != nil || o.User.Umask == nil || *o.User.Umask != 0o022 {
		t.Errorf("absent process: %v, %v", o.User.Umask, err)
	}
	u := uint32(0o077)
	s = loadSpec(t, "runc-spec.json")
	s.Process.User.Umask = &u
	if o, err := FromSpec(s); err != nil || *o.User.Umask != 0o077 {
		t.Errorf("umask 0077: %v", err)
	}
	// Options that keep the caller's umask say so in an annotation.
	keep := &Options{Capabilities: &specs.LinuxCapabilities{}}
	sp := keep.ToSpec()
	if sp.Annotations[AnnotationKeepUmask] != "true" {
		t.Fatalf("ToSpec of a nil umask: %v", sp.Annotations)
	}
	if back, err := FromSpec(sp); err != nil || back.User.Umask != nil {
		t.Errorf("round trip of a nil umask: %v, %v", back.User.Umask, err)
	}
	s.Annotations = map[string]string{AnnotationKeepUmask: "true"}
	if _, err := FromSpec(s); err == nil || !strings.Contains(err.Error(), "annotations."+AnnotationKeepUmask) {
		t.Errorf("keepUmask with a umask: %v", err)
	}
}

func TestFromSpecAbsentCwd(t *testing.T) {
	s := loadSpec(t, "runc-spec.json")
	s.Process.Cwd = ""
	if _, err := FromSpec(s); err == nil || !strings.Contains(err.Error(), "sandbox: process.cwd: is absent") || !errors.Is(err, ErrInvalid) {
		t.Errorf("absent cwd: %v", err)
	}
	s.Annotations = map[string]string{AnnotationKeepCwd: "true"}
	if o, err := FromSpec(s); err != nil || o.Cwd != "" {
		t.Errorf("keepCwd: %q, %v", o.Cwd, err)
	}
	s.Process.Cwd = "/"
	if _, err := FromSpec(s); err == nil || !strings.Contains(err.Error(), "annotations."+AnnotationKeepCwd) {
		t.Errorf("keepCwd with a cwd: %v", err)
	}
	sp := (&Options{}).ToSpec()
	if sp.Annotations[AnnotationKeepCwd] != "true" {
		t.Errorf("ToSpec without Cwd: %v", sp.Annotations)
	}
	if o, err := FromSpec((&Options{Cwd: "/srv"}).ToSpec()); err != nil || o.Cwd != "/srv" {
		t.Errorf("round trip of a cwd: %v", err)
	}
}
