package integration

// Id-mapped binds (OCI mount options idmap and ridmap, issue 20 item 6):
// root's launcher clones the source and maps it through the sandbox's user
// namespace, so host owners show inside as themselves and what is created
// inside lands on the host with the inside ids; a rootless launcher, which
// cannot, refuses before anything runs.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The host owner of the id-mapped sources, and the ids the process runs
// with inside.
const idmapUID, idmapGID = 1234, 2345

func TestOCIIDMap(t *testing.T) {
	if !root() {
		t.Run("RootlessRefused", ociIDMapRootlessRefused)
		return
	}
	t.Run("OwnersMapped", ociIDMapOwners)
	t.Run("RidmapReachesSubmount", ociIDMapSubmount)
	t.Run("UnsupportedFileSystemRefused", ociIDMapSysfsRefused)
}

// idmapBundle is a bundle whose process runs as idmapUID:idmapGID with a
// bind of src on /data with the options opts.
func idmapBundle(t *testing.T, src string, opts ...string) string {
	t.Helper()
	dir := mountBundle(t)
	os.MkdirAll(filepath.Join(dir, "rootfs", "data"), 0o755)
	editConfig(t, dir, func(spec map[string]any) {
		user := jsonObj(spec, "process", "user")
		user["uid"], user["gid"] = idmapUID, idmapGID
		// Not root inside: no ambient capabilities (runc spec's need an
		// inheritable set it does not give).
		delete(jsonObj(spec, "process", "capabilities"), "ambient")
		o := make([]any, len(opts))
		for i, s := range opts {
			o[i] = s
		}
		addMount(spec, map[string]any{"destination": "/data", "type": "bind", "source": src, "options": o})
		if root() {
			// A user namespace: root's sandbox gets a leased range.
			ns := jsonObj(spec, "linux")["namespaces"].([]any)
			jsonObj(spec, "linux")["namespaces"] = append(ns, map[string]any{"type": "user"})
		}
	})
	return dir
}

// ownedDir makes a directory owned by idmapUID:idmapGID, mode 0755.
func ownedDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(tempDir(t), "src")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, idmapUID, idmapGID); err != nil {
		t.Fatal(err)
	}
	return d
}

const statScript = `stat -c '%%u:%%g %%n' %s`

// ociIDMapOwners: without idmap the directory's host owner is unmapped in
// the sandbox's user namespace (the overflow id) and its process cannot
// write there; with idmap it shows as itself, the process (the same ids
// inside) creates a file, and the file is the host owner's on the host.
func ociIDMapOwners(t *testing.T) {
	src := ownedDir(t)
	plain := mustRun(t, "run", "--bundle", idmapBundle(t, src, "bind"), "--", "/bin/sh", "-c",
		fmt.Sprintf(statScript, "/data")+"; touch /data/plain && echo WROTE; true")
	if !strings.Contains(plain, "65534:65534 /data") || strings.Contains(plain, "WROTE") {
		t.Fatalf("plain bind: %q, want the overflow owner and no write", plain)
	}
	dir := idmapBundle(t, src, "bind", "idmap", "nosuid")
	report := filepath.Join(tempDir(t), "report.json")
	out := mustRun(t, "run", "--report", report, "--bundle", dir, "--", "/bin/sh", "-c",
		"id; "+fmt.Sprintf(statScript, "/data")+" && touch /data/new && "+fmt.Sprintf(statScript, "/data/new"))
	want := fmt.Sprintf("%d:%d /data\n%d:%d /data/new", idmapUID, idmapGID, idmapUID, idmapGID)
	if !strings.Contains(out, want) {
		t.Errorf("idmap bind: %q, want %q", out, want)
	}
	var s syscall.Stat_t
	if err := syscall.Stat(filepath.Join(src, "new"), &s); err != nil {
		t.Fatalf("the file created inside is not on the host: %v", err)
	}
	if s.Uid != idmapUID || s.Gid != idmapGID {
		t.Errorf("the file created inside is %d:%d on the host, want %d:%d", s.Uid, s.Gid, idmapUID, idmapGID)
	}
	os.Remove(filepath.Join(src, "new"))
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "id-mapped through the sandbox's user namespace") {
		t.Errorf("the report does not say the bind was id-mapped: %s", b)
	}
}

// ociIDMapSubmount: a source with a submount (made in a mount namespace of
// the test's own, so the host's mounts stay as they are), bound with
// rbind: ridmap maps the submount too, idmap the top mount only.
func ociIDMapSubmount(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	require(t, err == nil, "unshare (Debian util-linux) is needed")
	src, sub := ownedDir(t), ownedDir(t)
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(opt string) string {
		t.Helper()
		dir := idmapBundle(t, src, "rbind", opt)
		cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c",
			`mount --bind "$1" "$2/sub" && exec "$3" run --bundle "$4" -- /bin/sh -c "$5"`, "sh",
			sub, src, sandboxrunBin(t), dir, fmt.Sprintf(statScript, "/data /data/sub"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", opt, err, out)
		}
		return string(out)
	}
	top := fmt.Sprintf("%d:%d /data\n", idmapUID, idmapGID)
	if out := run("ridmap"); !strings.Contains(out, top+fmt.Sprintf("%d:%d /data/sub", idmapUID, idmapGID)) {
		t.Errorf("rbind,ridmap: %q, want the submount mapped too", out)
	}
	if out := run("idmap"); !strings.Contains(out, top+"65534:65534 /data/sub") {
		t.Errorf("rbind,idmap: %q, want the top mount mapped and the submount not", out)
	}
}

// ociIDMapRootlessRefused: a rootless launcher cannot map a host file
// system: refused before the command runs, exit 125, naming the option,
// the source and the errno.
func ociIDMapRootlessRefused(t *testing.T) {
	src := filepath.Join(tempDir(t), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := idmapBundle(t, src, "rbind", "idmap")
	editConfig(t, dir, func(spec map[string]any) {
		user := jsonObj(spec, "process", "user")
		user["uid"], user["gid"] = 0, 0
	})
	r := sbx(t, "", "run", "--bundle", dir, "--", "/bin/sh", "-c", "echo started")
	want := "].options idmap " + src + ": MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN"
	ok := r.code == 125 && strings.Contains(r.err, want) &&
		strings.Contains(r.err, "operation not permitted") && !strings.Contains(r.out, "started")
	t.Logf("refused: %s", r.err)
	if !ok {
		t.Errorf("rootless idmap: exit %d, stdout %q, stderr %q, want exit 125 and %q...", r.code, r.out, r.err, want)
	}
}

// ociIDMapSysfsRefused: a file system without id-mapped mounts (sysfs)
// makes the kernel refuse MOUNT_ATTR_IDMAP (EINVAL): refused before the
// command runs, exit 125, naming the option, the source and the errno.
func ociIDMapSysfsRefused(t *testing.T) {
	dir := idmapBundle(t, "/sys/kernel", "rbind", "ridmap")
	r := sbx(t, "", "run", "--bundle", dir, "--", "/bin/sh", "-c", "echo started")
	t.Logf("refused: %s", r.err)
	if r.code != 125 || !strings.Contains(r.err, "].options ridmap /sys/kernel: mount_setattr MOUNT_ATTR_IDMAP") ||
		!strings.Contains(r.err, "invalid argument (EINVAL)") || strings.Contains(r.out, "started") {
		t.Errorf("ridmap of sysfs: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
}
