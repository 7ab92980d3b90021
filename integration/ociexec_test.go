package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOCIExecIDs: `exec` into a running container runs with the ids the
// process asks for and no capability its init lacks, as root and as an
// unprivileged user. An unprivileged user's bundle (runc spec --rootless)
// maps only the user's own id, so the container's setgroups is "deny":
// nsenter's own credential change (setgroups first) failed there, and
// rootless exec did not run at all.
func TestOCIExecIDs(t *testing.T) {
	e := &ociEnv{bin: staticSandboxrunShared(t), root: filepath.Join(tempDir(t), "state")}
	bundle := ociBundle(t, nil, "sleep", "1000")
	e.must(t, "create", "--bundle", bundle, "x1")
	defer e.oci(t, "delete", "--force", "x1")
	e.must(t, "start", "x1")
	e.waitStatus(t, "x1", "running")
	r := e.oci(t, "exec", "x1", "sh", "-c",
		`echo "ids $(id -u) $(id -g)"; grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status /proc/1/status; grep NoNewPrivs /proc/self/status`)
	if r.code != 0 {
		t.Fatalf("exec: exit %d, out %q, err %q", r.code, r.out, r.err)
	}
	if !strings.Contains(r.out, "ids 0 0\n") {
		t.Errorf("exec'd process's ids: %q, want uid and gid 0 (the bundle's process.user)", r.out)
	}
	caps := map[string]string{} // "self CapEff" -> value
	for _, line := range strings.Split(r.out, "\n") {
		// /proc/self/status:CapEff:\t000...
		who, rest, ok := strings.Cut(line, "/status:")
		if !ok {
			continue
		}
		name, val, _ := strings.Cut(rest, ":")
		caps[filepath.Base(who)+" "+name] = strings.TrimSpace(val)
	}
	for _, c := range []string{"CapEff", "CapPrm", "CapBnd"} {
		self, init := caps["self "+c], caps["1 "+c]
		if self == "" || init == "" || self != init {
			t.Errorf("%s: exec'd process %q, the container's init %q (want equal)", c, self, init)
		}
	}
	if !strings.Contains(r.out, "NoNewPrivs:\t1") {
		t.Errorf("exec'd process without no_new_privs: %q", r.out)
	}
}
