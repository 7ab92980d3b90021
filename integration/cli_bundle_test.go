package integration

// sandboxrun with an OCI bundle and with --rootfs.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// makeBundle writes an OCI bundle with a busybox rootfs and runc spec's
// config (--rootless when not root).
func makeBundle(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	require(t, err == nil, "busybox (Debian busybox-static) is needed")
	_, err = exec.LookPath("runc")
	require(t, err == nil, "runc (Debian runc) is needed for runc spec")
	dir := tempDir(t)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "rootfs", "bin")
	// The mount points exist, as in an image: root's sandboxes run as
	// unprivileged host ids and cannot create them in root's rootfs.
	for _, d := range []string{bin, "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", strings.TrimPrefix(d, filepath.Join(dir, "rootfs"))), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "id", "hostname", "cat", "ls"} {
		os.Symlink("busybox", filepath.Join(bin, l))
	}
	spec := exec.Command("runc", "spec")
	if !root() {
		spec.Args = append(spec.Args, "--rootless")
	}
	spec.Dir = dir
	if out, err := spec.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	return dir
}

// TestCLIBundle: `sandboxrun run --bundle` runs runc spec's bundle with
// its busybox rootfs; --config does the same from the file.
func TestCLIBundle(t *testing.T) {
	dir := makeBundle(t)
	script := `id -u; hostname; ls /; cat /proc/self/uid_map; grep -E '^(NoNewPrivs|CapEff):' /proc/self/status`
	check := func(out string) {
		t.Helper()
		lines := strings.Split(out, "\n")
		if len(lines) < 3 || lines[0] != "0" || lines[1] != "runc" {
			t.Errorf("bundle: %q", out)
		}
		if strings.Contains(out, "usr\n") || !strings.Contains(out, "bin\n") || !strings.Contains(out, "proc\n") {
			t.Errorf("bundle: not in the busybox rootfs: %q", out)
		}
		if !root() && !regexp.MustCompile(`(?m)^\s*0\s+`+strconv.Itoa(os.Geteuid())+`\s+1$`).MatchString(out) {
			t.Errorf("rootless bundle: uid map %q", out)
		}
		if !strings.Contains(out, "NoNewPrivs:\t1") {
			t.Errorf("bundle: runc spec sets noNewPrivileges: %q", out)
		}
	}
	check(mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", script))
	check(mustRun(t, "--config", filepath.Join(dir, "config.json"), "--", "/bin/sh", "-c", script))
	// The config's own process.args (runc spec: "sh"), reading stdin.
	if r := sbx(t, "echo from-stdin; exit 5\n", "run", "--bundle", dir); r.code != 5 || r.out != "from-stdin\n" {
		t.Errorf("bundle args: %+v", r)
	}
	// process.terminal (runc spec sets it) cannot be met without a
	// terminal: --strict refuses.
	if r := sbx(t, "", "run", "--strict", "--bundle", dir, "--", "/bin/true"); r.code != 125 || !strings.Contains(r.err, "process.terminal") {
		t.Errorf("strict bundle without a tty: %+v", r)
	}
	// A field nsfork cannot honour is an error, not ignored.
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	var spec map[string]any
	json.Unmarshal(b, &spec)
	spec["process"].(map[string]any)["apparmorProfile"] = "x"
	b, _ = json.Marshal(spec)
	bad := filepath.Join(tempDir(t), "config.json")
	os.WriteFile(bad, b, 0o644)
	if r := sbx(t, "", "--config", bad, "--", "/bin/true"); r.code != 125 || !strings.Contains(r.err, "apparmorProfile") {
		t.Errorf("unsupported field: %+v", r)
	}
}

// TestCLIRootfs: --rootfs with --proc and --dev.
func TestCLIRootfs(t *testing.T) {
	dir := makeBundle(t)
	out := mustRun(t, "--rootfs", filepath.Join(dir, "rootfs"), "--proc", "--dev", "--read-only", "--", "/bin/sh", "-c",
		"ls /; ls /dev; ls /proc | grep -c '^[0-9]'; echo x > /x 2>&1 || echo ro")
	for _, w := range []string{"bin\n", "null\n", "zero\n", "urandom\n", "ro\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("rootfs: want %q in %q", w, out)
		}
	}
}
