package integration

// OCI mount options applied as runc applies them, attack-style: what a
// config asks for is what the kernel shows inside (mountinfo, errors), and
// nothing written inside reaches the host (issue 20).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func TestOCIMounts(t *testing.T) {
	t.Run("RecursiveAttributes", ociRecursiveAttrs)
	t.Run("PlainReadOnlyOnRbind", ociPlainROOnRbind)
	t.Run("SharedStaysShared", ociSharedStaysShared)
	t.Run("CgroupNamespace", ociCgroupNamespace)
	t.Run("MqueueAndDeviceNodes", ociMqueueAndDevices)
	t.Run("Tmpcopyup", ociTmpcopyup)
}

func init() { fork.RegisterFunc("threadNamespaces", threadNamespaces) }

// threadNamespaces returns, for every thread of the process (with four
// more blocked on threads of their own), its ipc and cgroup namespace and
// its /proc/thread-self/cgroup lines, one line per thread.
func threadNamespaces() (string, error) {
	release := blockThreads(4)
	defer release()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return "", err
	}
	var lines []string
	for _, task := range tasks {
		d := "/proc/self/task/" + task.Name()
		ipc, _ := os.Readlink(d + "/ns/ipc")
		cg, _ := os.Readlink(d + "/ns/cgroup")
		b, _ := os.ReadFile(d + "/cgroup")
		lines = append(lines, ipc+" "+cg+" "+strings.Join(strings.Fields(string(b)), ","))
	}
	return strings.Join(lines, "\n"), nil
}

// TestLateNamespacesEveryThread: the cgroup and ipc namespaces the child
// makes itself (after it is in its cgroup, with its ids) hold every thread
// of a function's process, not only the one that made them: each thread
// is in one new ipc and one new cgroup namespace, and reads "/" for its
// cgroups.
func TestLateNamespacesEveryThread(t *testing.T) {
	o := sandbox.Default().WithNamespaces(specs.CgroupNamespace, specs.IPCNamespace)
	if root() {
		pids := int64(64)
		o.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}
	}
	out, err := fork.Call[string](context.Background(), "threadNamespaces", o)
	if err != nil {
		t.Fatal(err)
	}
	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	hostCG, _ := os.Readlink("/proc/self/ns/cgroup")
	lines := strings.Split(out, "\n")
	if len(lines) < 5 {
		t.Fatalf("%d threads seen: %q", len(lines), out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != strings.Fields(lines[0])[0] || f[1] != strings.Fields(lines[0])[1] {
			t.Errorf("threads in different namespaces: %q", out)
			break
		}
		if f[0] == hostIPC || f[1] == hostCG {
			t.Errorf("a thread shares the launcher's namespace (ipc %s, cgroup %s): %q", hostIPC, hostCG, l)
		}
		for _, c := range strings.Split(f[2], ",") {
			if !strings.HasSuffix(c, ":/") {
				t.Errorf("a thread reads its cgroup as %q, want /", c)
			}
		}
	}
}

// mountBundle is makeBundle with the busybox tools these tests use.
func mountBundle(t *testing.T) string {
	t.Helper()
	dir := makeBundle(t)
	for _, l := range []string{"touch", "grep", "stat", "readlink", "mkdir"} {
		os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", l))
	}
	editConfig(t, dir, func(spec map[string]any) { jsonObj(spec, "process")["terminal"] = false })
	return dir
}

func addMount(spec map[string]any, m map[string]any) {
	spec["mounts"] = append(spec["mounts"].([]any), m)
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point, root string
	opts        []string // per-mount options
	optional    string   // shared:N, master:N
	fstype      string
}

// mountsInside parses the mountinfo the sandbox printed.
func mountsInside(out string) []mountEntry {
	var ms []mountEntry
	for _, l := range strings.Split(out, "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 1 {
			continue
		}
		ms = append(ms, mountEntry{root: f[3], point: f[4], opts: strings.Split(f[5], ","), optional: strings.Join(f[6:], " "), fstype: g[0]})
	}
	return ms
}

// under returns the mounts at dest and beneath it.
func under(ms []mountEntry, dest string) []mountEntry {
	var r []mountEntry
	for _, m := range ms {
		if m.point == dest || strings.HasPrefix(m.point, dest+"/") {
			r = append(r, m)
		}
	}
	return r
}

// ociRecursiveAttrs: rbind of the host's /dev (which has submounts on
// every Linux host: /dev/shm, /dev/pts, /dev/mqueue) with rro, rnosuid,
// rnodev and rnoexec: every mount of the tree shows the four flags, a
// write into the submount /dev/shm fails with EROFS, and nothing appears
// in the host's /dev/shm. The report names the mount and --strict passes.
func ociRecursiveAttrs(t *testing.T) {
	dir := mountBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		addMount(spec, map[string]any{"destination": "/hd", "type": "bind", "source": "/dev",
			"options": []any{"rbind", "rro", "rnosuid", "rnodev", "rnoexec"}})
	})
	os.MkdirAll(filepath.Join(dir, "rootfs", "hd"), 0o755)
	name := fmt.Sprintf("nsfork-i20-%d", os.Getpid())
	hostFile := "/dev/shm/" + name
	t.Cleanup(func() { os.Remove(hostFile) })
	report := filepath.Join(tempDir(t), "report.json")
	out := mustRun(t, "run", "--strict", "--report", report, "--bundle", dir, "--", "/bin/sh", "-c",
		"cat /proc/self/mountinfo; echo x > /hd/shm/"+name+" && echo WROTE-SUB; echo x > /hd/"+name+" && echo WROTE-TOP; true")
	if strings.Contains(out, "WROTE") {
		t.Errorf("a write through the rro bind worked: %q", out)
	}
	if _, err := os.Lstat(hostFile); err == nil {
		t.Errorf("%s appeared on the host", hostFile)
	}
	tree := under(mountsInside(out), "/hd")
	if len(tree) < 2 {
		t.Fatalf("the rbind of /dev shows %d mounts inside, want it with its submounts: %q", len(tree), out)
	}
	for _, m := range tree {
		for _, f := range []string{"ro", "nosuid", "nodev", "noexec"} {
			if !slices.Contains(m.opts, f) {
				t.Errorf("%s (%s): options %v lack %s", m.point, m.fstype, m.opts, f)
			}
		}
	}
	var rep struct {
		Applied struct {
			Mounts []string `json:"mounts"`
		} `json:"applied"`
		Strict *struct {
			OK bool `json:"ok"`
		} `json:"strict"`
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Strict == nil || !rep.Strict.OK {
		t.Errorf("--strict: %+v", rep.Strict)
	}
	if !slices.ContainsFunc(rep.Applied.Mounts, func(s string) bool {
		return strings.Contains(s, "/hd: rbind /dev on /hd (ro,nosuid,nodev,noexec recursively)")
	}) {
		t.Errorf("the report does not say what was done for the /hd mount: %q", rep.Applied.Mounts)
	}
}

// ociPlainROOnRbind: ["rbind","ro"] makes the top mount read-only and
// leaves the submounts as they are, as runc does (only rro reaches them).
// Nothing is written: mountinfo shows it.
func ociPlainROOnRbind(t *testing.T) {
	dir := mountBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		addMount(spec, map[string]any{"destination": "/hd", "type": "bind", "source": "/dev", "options": []any{"rbind", "ro"}})
	})
	os.MkdirAll(filepath.Join(dir, "rootfs", "hd"), 0o755)
	out := mustRun(t, "run", "--bundle", dir, "--", "/bin/cat", "/proc/self/mountinfo")
	tree := under(mountsInside(out), "/hd")
	if len(tree) < 2 || tree[0].point != "/hd" || !slices.Contains(tree[0].opts, "ro") {
		t.Fatalf("/hd: %+v", tree)
	}
	var rw int
	for _, m := range tree[1:] {
		if slices.Contains(m.opts, "rw") {
			rw++
		}
	}
	if rw == 0 {
		t.Errorf("rbind,ro made every submount read-only (runc leaves them): %+v", tree)
	}
}

// ociSharedStaysShared: a tmpfs with "shared" is in a peer group inside
// (mountinfo "shared:N") once the setup is done; one with "private" is not
// (so the check can fail).
func ociSharedStaysShared(t *testing.T) {
	dir := mountBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		addMount(spec, map[string]any{"destination": "/s", "type": "tmpfs", "source": "tmpfs", "options": []any{"shared"}})
		addMount(spec, map[string]any{"destination": "/p", "type": "tmpfs", "source": "tmpfs", "options": []any{"private"}})
		addMount(spec, map[string]any{"destination": "/rs", "type": "bind", "source": "/dev", "options": []any{"rbind", "rshared"}})
	})
	for _, d := range []string{"s", "p", "rs"} {
		os.MkdirAll(filepath.Join(dir, "rootfs", d), 0o755)
	}
	ms := mountsInside(mustRun(t, "run", "--bundle", dir, "--", "/bin/cat", "/proc/self/mountinfo"))
	for _, m := range ms {
		shared := strings.Contains(m.optional, "shared:")
		switch {
		case m.point == "/s" && !shared:
			t.Errorf("/s asked shared: %q", m.optional)
		case m.point == "/p" && shared:
			t.Errorf("/p asked private: %q", m.optional)
		case (m.point == "/rs" || strings.HasPrefix(m.point, "/rs/")) && !shared:
			t.Errorf("%s asked rshared: %q", m.point, m.optional)
		}
	}
	if len(under(ms, "/rs")) < 2 || len(under(ms, "/s")) != 1 {
		t.Errorf("mounts missing: %+v", ms)
	}
}

// ociCgroupNamespace: with a cgroup namespace, /proc/self/cgroup reads "/"
// in every hierarchy, also with limits (as root: the sandbox's cgroup is
// made and the child moved into it after the start on cgroup v1), and the
// cgroup mount shows the sandbox's own cgroup, not the host's tree: (as
// root, with a cgroup of its own) no nsfork-* cgroup beneath it is seen,
// and pids.max is the limit.
func ociCgroupNamespace(t *testing.T) {
	dir := mountBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		l := jsonObj(spec, "linux")
		l["namespaces"] = append(l["namespaces"].([]any), map[string]any{"type": "cgroup"})
		if root() {
			jsonObj(spec, "linux", "resources", "pids")["limit"] = 77
		}
		if !slices.ContainsFunc(spec["mounts"].([]any), func(m any) bool { return m.(map[string]any)["type"] == "cgroup" }) {
			addMount(spec, map[string]any{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
				"options": []any{"nosuid", "noexec", "nodev", "relatime", "ro"}})
		}
	})
	// The rootless spec binds the host's /sys: the cgroup mount goes on it.
	out := mustRun(t, "run", "--strict", "--bundle", dir, "--", "/bin/sh", "-c",
		"cat /proc/self/cgroup; echo ==; ls /sys/fs/cgroup/*/ /sys/fs/cgroup/; echo ==; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; true")
	parts := strings.Split(out, "==\n")
	if len(parts) != 3 {
		t.Fatalf("output: %q", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(parts[0]), "\n") {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("/proc/self/cgroup inside: %q, want every path /", l)
		}
	}
	// Rootless no cgroup is made: the own cgroup is the launcher's, which
	// may be a hierarchy's root with other sandboxes' cgroups beneath.
	if root() && strings.Contains(parts[1], "nsfork-") {
		t.Errorf("/sys/fs/cgroup inside shows other cgroups of the host's tree: %q", parts[1])
	}
	if root() && !strings.Contains(parts[2], "77") {
		t.Errorf("pids.max inside: %q, want the sandbox's own limit 77", parts[2])
	}
}

// ociMqueueAndDevices: in a user namespace the mqueue mount is owned by the
// namespace's root, and the minimal /dev's bound device nodes are nosuid
// and noexec.
func ociMqueueAndDevices(t *testing.T) {
	dir := mountBundle(t)
	out := mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", "stat -c '%u:%g' /dev/mqueue; cat /proc/self/mountinfo")
	owner, rest, _ := strings.Cut(out, "\n")
	if owner != "0:0" {
		t.Errorf("/dev/mqueue is owned by %q inside, want 0:0", owner)
	}
	var seen bool
	for _, m := range mountsInside(rest) {
		if m.point == "/dev/null" {
			seen = true
			if !slices.Contains(m.opts, "nosuid") || !slices.Contains(m.opts, "noexec") {
				t.Errorf("/dev/null bound with %v, want nosuid,noexec", m.opts)
			}
		}
	}
	if !seen {
		t.Errorf("no bound /dev/null in a user namespace: %q", rest)
	}
}

// ociTmpcopyup: a tmpfs with tmpcopyup on /etc starts with a copy of the
// rootfs's /etc (content, modes, a symlink, a subdirectory); a file made in
// it stays out of the host's /etc.
func ociTmpcopyup(t *testing.T) {
	dir := mountBundle(t)
	etc := filepath.Join(dir, "rootfs", "etc")
	os.MkdirAll(filepath.Join(etc, "sub"), 0o705)
	os.Chmod(filepath.Join(etc, "sub"), 0o705)
	for f, c := range map[string]string{"hosts": "hello\n", "sub/deep": "deep\n"} {
		if err := os.WriteFile(filepath.Join(etc, f), []byte(c), 0o604); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(etc, f), 0o604)
	}
	os.Symlink("hosts", filepath.Join(etc, "lnk"))
	editConfig(t, dir, func(spec map[string]any) {
		addMount(spec, map[string]any{"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": []any{"tmpcopyup", "nosuid", "size=1m"}})
	})
	out := mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c",
		"cat /etc/hosts /etc/lnk /etc/sub/deep; stat -c '%a %n' /etc/hosts /etc/sub /etc/sub/deep; readlink /etc/lnk; grep ' /etc ' /proc/self/mountinfo; echo x > /etc/new 2>/dev/null; true")
	for _, want := range []string{"hello\nhello\ndeep\n", "604 /etc/hosts", "705 /etc/sub", "604 /etc/sub/deep", "\nhosts\n", " - tmpfs "} {
		if !strings.Contains(out, want) {
			t.Errorf("inside: %q lacks %q", out, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(etc, "new")); err == nil {
		t.Errorf("a file made in the tmpcopyup tmpfs appeared in the rootfs's /etc")
	}
	// Refused on what is not a tmpfs, naming the option.
	editConfig(t, dir, func(spec map[string]any) {
		ms := spec["mounts"].([]any)
		ms[len(ms)-1] = map[string]any{"destination": "/etc", "type": "bind", "source": etc, "options": []any{"rbind", "tmpcopyup"}}
	})
	r := sbx(t, "", "run", "--bundle", dir, "--", "/bin/true")
	if r.code != 125 || !strings.Contains(r.err, `.options "tmpcopyup": is an option of a tmpfs`) {
		t.Errorf("tmpcopyup on a bind: exit %d, %q", r.code, r.err)
	}
}
