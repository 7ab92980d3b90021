package sandbox

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	for name, o := range map[string]*Options{"populated": populated(), "Root": Root(), "Rootless": rootless(1000, 1000, false), "zero": {}} {
		b, err := json.Marshal(o)
		must(t, err)
		var got Options
		must(t, json.Unmarshal(b, &got))
		if !reflect.DeepEqual(&got, o) {
			t.Errorf("%s: JSON round trip differs:\n%s\n got %+v", name, b, got)
		}
	}
}

func TestJSONKeys(t *testing.T) {
	b, err := json.Marshal(populated())
	must(t, err)
	var m map[string]json.RawMessage
	must(t, json.Unmarshal(b, &m))
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{
		// OCI names
		"capabilities", "cgroupsPath", "cwd", "domainname", "env", "gidMappings", "hostname",
		"maskedPaths", "mounts", "namespaces", "noNewPrivileges", "oomScoreAdj", "readonlyPaths",
		"resources", "rlimits", "root", "rootfsPropagation", "seccomp", "timeOffsets", "uidMappings", "user",
		// nsfork extensions (clearEnv is false in populated, so omitted)
		"dieWithParent", "landlock",
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("JSON keys\n got %v\nwant %v", keys, want)
	}
	b, _ = json.Marshal(Options{})
	if string(b) != `{"user":{"uid":0,"gid":0}}` {
		t.Errorf("zero Options: %s", b)
	}
}

func FuzzOptionsJSON(f *testing.F) {
	for _, o := range []*Options{populated(), Root(), rootless(1000, 1000, false), {}} {
		b, _ := json.Marshal(o)
		f.Add(b)
	}
	f.Add([]byte(`{"namespaces":[{"type":"network","path":"/proc/self/ns/net"},{"type":"user"}],"uidMappings":[{"containerID":4294967295,"hostID":4294967295,"size":4294967295}]}`))
	f.Add([]byte(`{"rlimits":[{"type":"RLIMIT_NOFILE","soft":2,"hard":1}],"capabilities":{"ambient":["x"]},"mounts":[{"destination":"x","options":["rbind"]}]}`))
	h := testHost(1000, 1000, map[string]string{SubUIDFile: "alice:100000:65536\n", SubGIDFile: "bad line\n"})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Options
		if json.Unmarshal(b, &o) != nil {
			return
		}
		_ = o.validate(h)
		_ = o.validate(rootHost)
		_ = o.needsIDMapHelper(h)
		// ToSpec and FromSpec lose nothing.
		got, err := FromSpec(o.ToSpec())
		if err != nil {
			t.Fatalf("FromSpec(ToSpec()): %v", err)
		}
		want, _ := json.Marshal(&o)
		have, _ := json.Marshal(got)
		if string(want) != string(have) {
			t.Fatalf("round trip:\n got %s\nwant %s", have, want)
		}
	})
}
