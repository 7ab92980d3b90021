package integration

// Root of a user namespace other than the initial one is not host root
// (sandbox.RootInInitialUserNS): `unshare -Ur` (util-linux) makes the
// test's user root of a new user namespace, as rootless podman makes its
// OCI runtime, and sandboxrun must give it the rootless defaults there:
// a nested user namespace mapping its own id 0, no leased host ids,
// nothing under /run, and the OCI lifecycle with a `runc spec --rootless`
// bundle. The root suite runs these as uid 65534 too (asNSRootUser): under
// root's own `unshare -r` the namespace's uid 0 is host uid 0, which the
// launch refuses (TestHostRootRefused) unless --host-root (CgroupLimit).

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/testreq"
)

// needUnshare skips (fails in strict mode) without util-linux's unshare
// and nsenter or a user namespace to make.
func needUnshare(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"unshare", "nsenter"} {
		_, err := exec.LookPath(tool)
		testreq.Need(t, err == nil, "%s (util-linux) is needed", tool)
	}
	out, err := exec.Command("unshare", "-Ur", "id", "-u").CombinedOutput()
	testreq.Need(t, err == nil && strings.TrimSpace(string(out)) == "0", "unshare -Ur (an unprivileged user namespace): %v %s", err, out)
}

func TestUserNSRoot(t *testing.T) {
	needUnshare(t)
	t.Run("Run", usernsRootRun)
	t.Run("ReportDoctor", usernsRootReportDoctor)
	t.Run("CgroupLimit", usernsRootCgroupLimit)
	t.Run("OCILifecycle", usernsRootOCI)
}

// usernsRootRun: sandboxrun with the defaults under `unshare -Urm`, with
// an empty tmpfs on /run in that mount namespace, so that whatever the
// launcher made under /run (/run/nsfork, its idranges) shows, without
// racing other launchers on the host's /run.
func usernsRootRun(t *testing.T) {
	bin := sandboxrunBin(t)
	self, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	script := `mount -t tmpfs nsfork-t /run || exit 90
readlink /proc/self/ns/user
"$0" -- sh -c 'readlink /proc/self/ns/user; cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g' || exit 91
echo ---
ls -A /run`
	out, err := asNSRootUser(exec.Command("unshare", "-Urm", "sh", "-c", script, bin)).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare -Urm sandboxrun -- ...: %v\n%s", err, out)
	}
	before, after, ok := strings.Cut(string(out), "---\n")
	lines := strings.Split(strings.TrimSpace(before), "\n")
	if !ok || len(lines) != 6 {
		t.Fatalf("output %q: want 6 lines, ---, and the list of /run", out)
	}
	outer, inner := lines[0], lines[1]
	if outer == self || inner == outer || inner == self || !strings.HasPrefix(inner, "user:[") {
		t.Errorf("user namespaces: test %s, unshare %s, sandbox %s: want the sandbox in a new one of its own", self, outer, inner)
	}
	for i, name := range []string{"uid_map", "gid_map"} {
		if f := strings.Fields(lines[2+i]); strings.Join(f, " ") != "0 0 1" {
			t.Errorf("the sandbox's %s is %q: want its caller's own id 0 only (0 0 1), no leased range", name, lines[2+i])
		}
	}
	if lines[4] != "0" || lines[5] != "0" {
		t.Errorf("ids inside: %s:%s, want 0:0", lines[4], lines[5])
	}
	if s := strings.TrimSpace(after); s != "" {
		t.Errorf("the launcher, root of a user namespace, made %q under /run (host root's /run/nsfork, id leases): want nothing", s)
	}
}

// usernsRootReportDoctor: --report and doctor say rootless.
func usernsRootReportDoctor(t *testing.T) {
	bin := sandboxrunBin(t)
	rep := filepath.Join(sharedDir(t), "report.json")
	if out, err := asNSRootUser(exec.Command("unshare", "-Ur", bin, "--report", rep, "--", "true")).CombinedOutput(); err != nil {
		t.Fatalf("unshare -Ur sandboxrun --report: %v\n%s", err, out)
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Launcher struct {
			EUID     int  `json:"euid"`
			Rootless bool `json:"rootless"`
		} `json:"launcher"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Launcher.EUID != 0 || !doc.Launcher.Rootless {
		t.Errorf("report of root of a user namespace: launcher %+v, want euid 0 and rootless", doc.Launcher)
	}
	out, _ := asNSRootUser(exec.Command("unshare", "-Ur", bin, "doctor")).CombinedOutput()
	if !strings.Contains(string(out), "uid 0 of a user namespace other than the initial one (rootless mode") {
		t.Errorf("doctor as root of a user namespace does not say rootless:\n%s", out)
	}
}

// usernsRootCgroupLimit: a limit needs a cgroup, which root of a user
// namespace gets only where its host uid may write the cgroup tree: none
// for uid 65534 here (cgroup v1, nothing delegated), so the start fails
// closed, saying that it is not host root; under root's `unshare -r` its
// uid 0 is host uid 0, which owns the tree: with --host-root (the opt-in)
// the limit is applied.
func usernsRootCgroupLimit(t *testing.T) {
	bin := sandboxrunBin(t)
	pidsMax := func(hostRoot bool) *exec.Cmd {
		args := []string{"-Ur", bin, "--pids", "16", "--", "sh", "-c",
			// cgroup v1's pids hierarchy, else (a v2-only host) the unified one.
			`p=$(grep :pids: /proc/self/cgroup | cut -d: -f3); if [ -n "$p" ]; then cat /sys/fs/cgroup/pids$p/pids.max; else p=$(grep ^0:: /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup$p/pids.max; fi`}
		if hostRoot {
			args = append(args[:2:2], append([]string{"--host-root"}, args[2:]...)...)
		}
		return exec.Command("unshare", args...)
	}
	if root() {
		if out, err := pidsMax(true).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "16" {
			t.Errorf("--host-root --pids 16 under root's unshare -r: %v %q, want pids.max 16", err, out)
		}
	}
	out, err := asNSRootUser(pidsMax(false)).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), "not host root") {
		t.Errorf("--pids 16 as root of uid 65534's user namespace: %v %q, want exit 125 naming the cgroup step and that it is not host root", err, out)
	}
}

// usernsRootOCI: the OCI lifecycle (TestOCIRuntime's) with every command
// run as root of one user namespace, as rootless podman runs its runtime
// (nsenter into a namespace a holder process keeps), on a `runc spec
// --rootless` bundle made in that namespace, with --root a test directory;
// as uid 65534 in the root suite too.
func usernsRootOCI(t *testing.T) {
	holder := asNSRootUser(exec.Command("unshare", "-Ur", "sleep", "600"))
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	self, _ := os.Readlink("/proc/self/ns/user")
	ns := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/user"
	if !waitFor(10*time.Second, func() bool { l, err := os.Readlink(ns); return err == nil && l != self }) {
		t.Fatalf("unshare -Ur sleep: %s never became a user namespace of its own", ns)
	}
	wrap := []string{"nsenter", "-U", "--preserve-credentials", "-t", strconv.Itoa(holder.Process.Pid), "--"}
	if root() {
		wrap = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, wrap...)
	}
	e := newOCIEnv(t)
	e.wrap = wrap
	e.root = filepath.Join(sharedDir(t), "state")
	// runc spec --rootless as root of the namespace: its id 0 mapped.
	gen := sharedDir(t)
	spec := exec.Command(wrap[0], append(wrap[1:], "runc", "spec", "--rootless")...)
	spec.Dir = gen
	if out, err := spec.CombinedOutput(); err != nil {
		t.Fatalf("runc spec --rootless in the namespace: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(gen, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	bundle := ociBundle(t, func(s *specs.Spec) {
		var g specs.Spec
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		g.Process.Terminal, g.Process.Args = false, s.Process.Args
		*s = g
		if m := s.Linux.UIDMappings; len(m) != 1 || m[0].HostID != 0 || m[0].Size != 1 {
			t.Fatalf("runc spec --rootless in the namespace maps %+v: want its id 0", m)
		}
	}, "sh", "-c", "echo started; exec sleep 1000")
	if root() {
		// The user's own root file system (root's shows as the overflow
		// uid in its namespace, which a cgo build refuses).
		if out, err := exec.Command("chown", "-R", "65534:65534", filepath.Join(bundle, "rootfs")).CombinedOutput(); err != nil {
			t.Fatalf("chown the bundle's rootfs to uid 65534: %v %s", err, out)
		}
	}
	ociLifecycleIn(t, e, bundle)
}
