package sandbox

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseSubIDs(t *testing.T) {
	const file = `
# owner:start:count
alice:100000:65536
1000:300000:10
bob:200000:65536
alice:400000:0
`
	got, err := ParseSubIDs(strings.NewReader(file), "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []IDRange{{100000, 65536}, {300000, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, _ := ParseSubIDs(strings.NewReader(file), "", 1000); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("by uid only: got %v", got)
	}
	if got, _ := ParseSubIDs(strings.NewReader(file), "carol", -1); got != nil {
		t.Errorf("carol: got %v", got)
	}
	for _, bad := range []string{"alice:1", "alice:x:1", "alice:4294967295:2", ":1:1"} {
		if _, err := ParseSubIDs(strings.NewReader(bad), "alice", 1000); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestLookupSubIDs(t *testing.T) {
	d := t.TempDir()
	f := filepath.Join(d, "subuid")
	must(t, os.WriteFile(f, []byte("alice:100000:65536\n"), 0o644))
	got, err := LookupSubIDs("alice", 1000, f)
	if err != nil || !reflect.DeepEqual(got, []IDRange{{100000, 65536}}) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := LookupSubIDs("alice", 1000, filepath.Join(d, "missing")); got != nil || err != nil {
		t.Errorf("missing file: got %v, %v", got, err)
	}
	must(t, os.WriteFile(f, []byte("garbage\n"), 0o644))
	if _, err := LookupSubIDs("alice", 1000, f); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("bad file: err = %v", err)
	}
}

func TestCovers(t *testing.T) {
	rs := []IDRange{{200, 100}, {1000, 1}, {100, 100}}
	for _, tc := range []struct {
		start, size uint64
		want        bool
	}{
		{100, 200, true}, // two adjacent ranges
		{150, 100, true},
		{1000, 1, true},
		{99, 2, false},
		{250, 100, false},
		{1000, 2, false},
		{5000, 1, false},
	} {
		if got := covers(rs, tc.start, tc.size); got != tc.want {
			t.Errorf("covers(%d, %d) = %v", tc.start, tc.size, got)
		}
	}
}

func TestNeedsIDMapHelper(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    *Options
		h    *host
		want bool
	}{
		{"root", func() *Options { o := rootless(0, 0, true); o.UIDMappings = idmap(0, 100000, 65536); return o }(), rootHost, false},
		{"own ids", rootless(1000, 1000, false), rootlessHost, false},
		{"own ids by default", &Options{Namespaces: ns(specs.UserNamespace)}, rootlessHost, false},
		{"own id to another container id", &Options{Namespaces: ns(specs.UserNamespace), UIDMappings: idmap(1000, 1000, 1)}, rootlessHost, false},
		{"subordinate uids", &Options{Namespaces: ns(specs.UserNamespace), UIDMappings: idmap(0, 1000, 1, 1, 100000, 10)}, rootlessHost, true},
		{"subordinate gids", &Options{Namespaces: ns(specs.UserNamespace), GIDMappings: idmap(0, 100000, 10)}, rootlessHost, true},
		{"no user namespace", &Options{}, rootlessHost, false},
	} {
		if got := tc.o.needsIDMapHelper(tc.h); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
	_ = Rootless().NeedsIDMapHelper() // the live host: must not panic
}

func TestEffectiveIDMappings(t *testing.T) {
	o := &Options{Namespaces: ns(specs.UserNamespace), GIDMappings: idmap(0, 100000, 10)}
	u, g := o.effectiveIDMappings(rootlessHost)
	if !reflect.DeepEqual(u, idmap(0, 1000, 1)) || !reflect.DeepEqual(g, idmap(0, 100000, 10)) {
		t.Errorf("got %v %v", u, g)
	}
	if u, g := (&Options{}).EffectiveIDMappings(); u != nil || g != nil {
		t.Errorf("without user namespace: %v %v", u, g)
	}
}

func TestNames(t *testing.T) {
	for _, n := range rlimitNames {
		if _, ok := RlimitResource(n); !ok {
			t.Errorf("RlimitResource(%q) unknown", n)
		}
	}
	if r, ok := RlimitResource("RLIMIT_NOFILE"); !ok || r != 7 && r != 5 { // amd64/arm64 7, mips 5
		t.Errorf("RLIMIT_NOFILE = %d, %v", r, ok)
	}
	if _, ok := RlimitResource("RLIMIT_NOPE"); ok {
		t.Error("RLIMIT_NOPE known")
	}
	if c, err := CapabilityValue("CAP_SYS_ADMIN"); err != nil || c != 21 {
		t.Errorf("CAP_SYS_ADMIN = %v, %v", c, err)
	}
	if _, err := CapabilityValue("sys_admin"); err == nil || !strings.Contains(err.Error(), `did you mean "CAP_SYS_ADMIN"`) {
		t.Errorf("sys_admin: %v", err)
	}
	if _, err := CapabilityValue("CAP_NOPE"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("CAP_NOPE: %v", err)
	}
	names := CapabilityNames()
	if len(names) < 41 || names[0] != "CAP_AUDIT_CONTROL" {
		t.Errorf("CapabilityNames() = %v", names)
	}
}
