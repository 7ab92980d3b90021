package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// TestStrictCapabilities: --strict compares all five capability sets,
// the bounding set from the sandbox's /proc status; an empty set (what an
// OCI config without process.capabilities asks for) must read back zero.
func TestStrictCapabilities(t *testing.T) {
	o := &sandbox.Options{Capabilities: &specs.LinuxCapabilities{}}
	zero := map[string]string{"effective": "0x0", "permitted": "0x0", "inheritable": "0x0", "ambient": "0x0"}
	a := &sandbox.Applied{Capabilities: zero}
	if miss := strictCheck(o, a, &parentView{CapBnd: "0000000000000000"}); len(miss) != 0 {
		t.Errorf("nothing asked, nothing held: %q", miss)
	}
	miss := strictCheck(o, a, &parentView{CapBnd: "000001ffffffffff"})
	if len(miss) != 1 || !strings.HasPrefix(miss[0], "bounding capabilities 0x0") {
		t.Errorf("full bounding set passed: %q", miss)
	}
	if miss := strictCheck(o, a, &parentView{}); len(miss) != 1 || !strings.Contains(miss[0], "bounding") {
		t.Errorf("unreadable bounding set passed: %q", miss)
	}
	full := map[string]string{"effective": "0x1fffeffffff", "permitted": "0x0", "inheritable": "0x0", "ambient": "0x0"}
	if miss := strictCheck(o, &sandbox.Applied{Capabilities: full}, &parentView{CapBnd: "0000000000000000"}); len(miss) != 1 || !strings.HasPrefix(miss[0], "effective") {
		t.Errorf("effective set passed: %q", miss)
	}
	o.Capabilities.Bounding = []string{"CAP_KILL", "CAP_CHOWN"}
	if miss := strictCheck(o, a, &parentView{CapBnd: "0000000000000021"}); len(miss) != 0 {
		t.Errorf("CAP_CHOWN|CAP_KILL: %q", miss)
	}
	// Options that keep the process's capabilities ask for nothing.
	if miss := strictCheck(&sandbox.Options{}, a, &parentView{CapBnd: "000001ffffffffff"}); len(miss) != 0 {
		t.Errorf("nil capabilities: %q", miss)
	}
}

func TestOCIDefaultNotes(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "config.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"process": {"args": ["sh"]}, "linux": {"maskedPaths": ["/proc/kcore"]}}`)
	notes := strings.Join(ociDefaultNotes(path), "\n")
	for _, want := range []string{"process.capabilities: absent, so no capabilities", "process.user.umask: absent, so 0022", "process.noNewPrivileges: absent", "linux.readonlyPaths: absent", "linux.seccomp: absent", "linux.rootfsPropagation: absent"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "maskedPaths") {
		t.Errorf("a set field is noted as absent:\n%s", notes)
	}
	write(`{"process": {"user": {"umask": 18}, "capabilities": {}, "noNewPrivileges": false}, "linux": {"maskedPaths": ["/x"], "readonlyPaths": ["/y"], "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}, "rootfsPropagation": "rprivate"}}`)
	if notes := ociDefaultNotes(path); len(notes) != 0 {
		t.Errorf("everything set: %q", notes)
	}
}
