package integration

// OCI configs through `sandboxrun run --bundle`: what a config leaves out
// means what it means to runc, and what nsfork cannot apply as written is
// refused (exit 125, the field's JSON path named) before anything starts.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOCIConfig runs runc spec bundles, edited, through sandboxrun.
func TestOCIConfig(t *testing.T) {
	t.Run("AbsentCapabilities", ociAbsentCapabilities)
	t.Run("AbsentUmask", ociAbsentUmask)
	t.Run("Refused", ociRefused)
}

// editConfig rewrites dir/config.json through edit, on its generic JSON.
func editConfig(t *testing.T, dir string, edit func(spec map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	edit(spec)
	if b, err = json.MarshalIndent(spec, "", "\t"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func jsonObj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
}

const capScript = `grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status`

// ociAbsentCapabilities: a config without process.capabilities runs with
// no capabilities at all, as under runc and crun; the same bundle with
// runc spec's capabilities runs with them (so the check can fail).
func ociAbsentCapabilities(t *testing.T) {
	dir := makeBundle(t)
	st := statusOf(mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", capScript))
	if st["CapBnd"] == "" || st["CapBnd"] == "0000000000000000" {
		t.Fatalf("runc spec's capabilities: bounding set %q, want runc spec's three", st["CapBnd"])
	}
	// --strict passes with runc spec's sets (a terminal cannot be given).
	editConfig(t, dir, func(spec map[string]any) { jsonObj(spec, "process")["terminal"] = false })
	mustRun(t, "run", "--strict", "--bundle", dir, "--", "/bin/sh", "-c", ":")
	editConfig(t, dir, func(spec map[string]any) { delete(jsonObj(spec, "process"), "capabilities") })
	check := func(name string, args ...string) {
		t.Helper()
		out := mustRun(t, append(args, "--", "/bin/sh", "-c", capScript)...)
		st := statusOf(out)
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if st[k] != "0000000000000000" {
				t.Errorf("%s: %s = %q, want no capabilities (absent process.capabilities): %q", name, k, st[k], out)
			}
		}
	}
	check("bundle", "run", "--bundle", dir)
	check("config", "run", "--config", filepath.Join(dir, "config.json"))
	if root() {
		// As host root, with no user namespace: still none.
		check("host root", "run", "--host-root", "--bundle", dir)
	}

	// --strict checks every set, the bounding set too, and the report says
	// what the absent field meant.
	path := filepath.Join(tempDir(t), "report.json")
	mustRun(t, "run", "--strict", "--report", path, "--bundle", dir, "--", "/bin/sh", "-c", ":")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Strict *struct {
			OK      bool     `json:"ok"`
			Missing []string `json:"missing"`
		} `json:"strict"`
		Notes  []string `json:"notes"`
		Parent struct {
			CapBnd string `json:"capBnd"`
		} `json:"parent"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Strict == nil || !rep.Strict.OK || rep.Parent.CapBnd != "0000000000000000" {
		t.Errorf("--strict: %+v, bounding set %q", rep.Strict, rep.Parent.CapBnd)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "process.capabilities: absent, so no capabilities") {
		t.Errorf("report notes: %q", rep.Notes)
	}
}

// ociRefused: misspelt fields at several depths, and fields nsfork would
// not apply as written, are refused with exit 125 and the field's path,
// before the command starts.
func ociRefused(t *testing.T) {
	base := makeBundle(t)
	orig, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(spec map[string]any)
		want string
	}{
		{"noNewPrivilege", func(spec map[string]any) {
			p := jsonObj(spec, "process")
			delete(p, "noNewPrivileges")
			p["noNewPrivilege"] = true
		}, `process.noNewPrivilege: unknown field (did you mean "noNewPrivileges"?)`},
		{"top level", func(spec map[string]any) { spec["hostName"] = "x" }, `hostName: unknown field`},
		{"in a list", func(spec map[string]any) {
			spec["mounts"].([]any)[0].(map[string]any)["option"] = []any{"ro"}
		}, `mounts[0].option: unknown field`},
		{"deep", func(spec map[string]any) {
			jsonObj(spec, "linux", "resources", "memory")["useHierachy"] = true
		}, `linux.resources.memory.useHierachy: unknown field`},
		{"useHierarchy", func(spec map[string]any) {
			jsonObj(spec, "linux", "resources", "memory")["useHierarchy"] = true
		}, `linux.resources.memory.useHierarchy: nsfork does not write`},
		{"mount uidMappings", func(spec map[string]any) {
			spec["mounts"] = append(spec["mounts"].([]any), map[string]any{
				"destination": "/tmp", "type": "bind", "source": "rootfs/bin", "options": []any{"rbind", "ridmap"},
				"uidMappings": []any{map[string]any{"containerID": 0, "hostID": 1000, "size": 1}},
			})
		}, `.uidMappings: a mount's own id mappings are not supported`},
		{"maskedPaths empty", func(spec map[string]any) {
			jsonObj(spec, "linux")["maskedPaths"] = []any{}
		}, `linux.maskedPaths: an explicit empty list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(base, "config.json"), orig, 0o644); err != nil {
				t.Fatal(err)
			}
			editConfig(t, base, tc.edit)
			for _, args := range [][]string{
				{"run", "--bundle", base},
				{"run", "--config", filepath.Join(base, "config.json")},
			} {
				r := sbx(t, "", append(args, "--", "/bin/sh", "-c", "echo started")...)
				if r.code != 125 || !strings.Contains(r.err, tc.want) {
					t.Errorf("%q: exit %d, stderr %q; want 125 and %q", args, r.code, r.err, tc.want)
				}
				if strings.Contains(r.out, "started") {
					t.Errorf("%q: the command ran: %q", args, r.out)
				}
			}
		})
	}
}

// ociAbsentUmask: a config without process.user.umask runs with 0022, as
// runc sets it, whatever sandboxrun's own umask; a umask given is kept.
func ociAbsentUmask(t *testing.T) {
	dir := makeBundle(t)
	old := syscall.Umask(0o077) // sandboxrun inherits it
	defer syscall.Umask(old)
	if out := mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", "umask"); strings.TrimSpace(out) != "0022" {
		t.Errorf("absent umask: %q, want 0022", out)
	}
	editConfig(t, dir, func(spec map[string]any) { jsonObj(spec, "process", "user")["umask"] = 0o027 })
	if out := mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", "umask"); strings.TrimSpace(out) != "0027" {
		t.Errorf("umask 0027: %q", out)
	}
}
