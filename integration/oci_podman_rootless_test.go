package integration

// Rootless podman (Debian's 4.3, with conmon) drives sandboxrun as its OCI
// runtime (docs/oci-runtime.md, "podman"), as uid 65534: podman runs its
// runtime as uid 0 of a user namespace of its own, which nsfork must take
// for rootless (sandbox.RootInInitialUserNS). 65534 has no /etc/subuid
// entry, so podman maps that one id; the storage (vfs), the run root, HOME
// and the XDG directories are the test's own, so the host's podman, its
// files and /etc/subuid are untouched. runc runs the same lines first:
// where it cannot, the host cannot run rootless podman and the test says
// why.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/testreq"
)

// podmanRootless is a private rootless podman setup for one runtime.
type podmanRootless struct {
	env, args []string
	cred      *syscall.Credential // run podman as 65534 from the root suite
	dir       string
	image     string
	argvLog   string
}

const rootlessPodmanUID = 65534

var (
	staticSbxOnce sync.Once
	staticSbxBin  string
	staticSbxErr  error
)

// staticSandboxrunShared is a static (CGO_ENABLED=0) sandboxrun for both
// suites, built once per test binary, or $NSFORK_SANDBOXRUN_STATIC: exec
// runs part of it inside the container, whose file system has no C
// library.
func staticSandboxrunShared(t *testing.T) string {
	t.Helper()
	staticSbxOnce.Do(func() {
		if p := os.Getenv("NSFORK_SANDBOXRUN_STATIC"); p != "" {
			staticSbxBin = p
			return
		}
		staticSbxBin, staticSbxErr = buildSandboxrun("CGO_ENABLED=0")
	})
	if staticSbxErr != nil {
		require(t, false, "cannot build a static sandboxrun: "+staticSbxErr.Error())
	}
	return staticSbxBin
}

// newPodmanRootless sets podman up with runtime (a path) for uid 65534
// when the suite runs as root, else for the suite's own user.
func newPodmanRootless(t *testing.T, runtime string) *podmanRootless {
	t.Helper()
	for _, tool := range []string{"podman", "conmon"} {
		_, err := exec.LookPath(tool)
		testreq.Need(t, err == nil, "%s (Debian podman, conmon) is needed", tool)
	}
	bb, err := exec.LookPath("busybox")
	testreq.Need(t, err == nil, "busybox (Debian busybox-static) is needed")
	dir := tempDir(t)
	e := &podmanRootless{dir: dir, image: "localhost/nsfork-podman-rootless:latest", argvLog: filepath.Join(dir, "argv.log")}
	// podman refuses a run root longer than 50 bytes: one beside the
	// test's directory, with a short name.
	runroot, err := os.MkdirTemp(filepath.Dir(filepath.Dir(dir)), "prl")
	if err != nil {
		t.Fatal(err)
	}
	xdg := map[string]string{"HOME": "home", "XDG_RUNTIME_DIR": "run", "XDG_CONFIG_HOME": "config", "XDG_DATA_HOME": "data", "TMPDIR": "tmp"}
	env := []string{"PATH=" + os.Getenv("PATH"), "USER=nobody", "LOGNAME=nobody"}
	for k, v := range xdg {
		p := filepath.Join(dir, v)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+p)
	}
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = append(env, "CONTAINERS_CONF="+conf)
	if root() {
		e.cred = &syscall.Credential{Uid: rootlessPodmanUID, Gid: rootlessPodmanUID, NoSetGroups: false}
		for _, p := range []string{dir, runroot} {
			if err := chownTree(p, rootlessPodmanUID); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.args = []string{"--root", filepath.Join(dir, "storage"), "--runroot", runroot, "--storage-driver", "vfs", "--runtime", runtime}
	tarball := filepath.Join(dir, "bb.tar")
	writeBusyboxTar(t, bb, tarball)
	t.Cleanup(func() {
		e.podman("rm", "-af", "-t", "0")
		e.podman("rmi", "-af")
		e.podman("system", "reset", "-f")
		// podman's pause process holds its user namespace.
		if b, err := os.ReadFile(filepath.Join(dir, "run", "libpod", "tmp", "pause.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.RemoveAll(runroot)
	})
	if out, err := e.podman("import", "-q", tarball, e.image); err != nil {
		t.Fatalf("podman import (rootless): %v\n%s", err, out)
	}
	return e
}

// chownTree gives path and everything below it to uid (and gid uid).
func chownTree(path string, uid int) error {
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

func (e *podmanRootless) podman(args ...string) (string, error) {
	cmd := exec.Command("podman", append(append([]string{}, e.args...), args...)...)
	cmd.Env = e.env
	cmd.Dir = e.dir
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *podmanRootless) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.podman(args...)
	if err != nil {
		t.Fatalf("podman (rootless) %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestOCIPodmanRootless(t *testing.T) {
	runc, err := exec.LookPath("runc")
	testreq.Need(t, err == nil, "runc (Debian runc) is needed")
	// runc first: what the host allows rootless podman.
	ref := newPodmanRootless(t, runc)
	out, err := ref.podman(append(podmanRunArgs, "--network", "none", ref.image, "id", "-u")...)
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("rootless podman with runc: %v\n%s", err, out)
	}

	dir := tempDir(t)
	bin := staticSandboxrunShared(t)
	argvLog := filepath.Join(dir, "argv.log")
	wrap := filepath.Join(dir, "sandboxrun-wrap")
	script := "#!/bin/sh\necho \"$*\" >> " + argvLog + "\nexec " + bin + " \"$@\"\n"
	if err := os.WriteFile(wrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if root() {
		if err := chownTree(dir, rootlessPodmanUID); err != nil {
			t.Fatal(err)
		}
	}
	e := newPodmanRootless(t, wrap)
	run := append(append([]string{}, podmanRunArgs...), "--network", "none")

	t.Run("Run", func(t *testing.T) {
		out := e.must(t, append(run, e.image, "sh", "-c", "id -u; cat /proc/self/status | grep ^NoNewPrivs")...)
		if !strings.HasPrefix(out, "0\n") {
			t.Fatalf("podman run: want uid 0 inside first, got %q", out)
		}
		if _, err := e.podman(append(run, e.image, "sh", "-c", "exit 3")...); podmanExit(err) != 3 {
			t.Fatalf("podman run of 'exit 3': exit code %d (%v), want 3", podmanExit(err), err)
		}
	})

	t.Run("Terminal", func(t *testing.T) {
		out := e.must(t, append(run, "-t", e.image, "tty")...)
		if !strings.HasPrefix(strings.TrimSpace(out), "/dev/pts/") {
			t.Fatalf("podman run -t: tty says %q, want a /dev/pts terminal of the container's", out)
		}
	})

	t.Run("ExecStop", func(t *testing.T) { podmanExecStop(t, e, e.image, "nsfork-podman-rl", true) })

	// The runtime ran as root of podman's user namespace, not as host
	// root: its state went to $XDG_RUNTIME_DIR, never /run/nsfork.
	if st, err := os.Stat(filepath.Join(e.dir, "run", "nsfork")); err != nil || !st.IsDir() {
		t.Errorf("the runtime's state directory $XDG_RUNTIME_DIR/nsfork: %v", err)
	}
	b, _ := os.ReadFile(argvLog)
	for _, want := range []string{"create --bundle", "start ", "exec ", "kill ", "delete --force"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("podman never passed %q to the runtime; its command lines:\n%s", want, b)
		}
	}
}

// podmanCmd runs podman with a test's setup (podmanEnv, podmanRootless).
type podmanCmd interface {
	podman(args ...string) (string, error)
	must(t *testing.T, args ...string) string
}

// podmanExecStop: a detached container, exec into it (with -t too when
// tty), its exit code, stop, and the status podman then shows.
func podmanExecStop(t *testing.T, e podmanCmd, image, name string, tty bool) {
	e.must(t, "run", "-d", "--name", name, "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", image, "sleep", "300")
	out := e.must(t, "exec", name, "sh", "-c", "echo in:$(hostname); cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
	if !strings.Contains(out, "in:") || !strings.Contains(out, "sleep 300") {
		t.Fatalf("podman exec: %q, want the container's hostname and its processes (sleep 300)", out)
	}
	if _, err := e.podman("exec", name, "sh", "-c", "exit 5"); podmanExit(err) != 5 {
		t.Fatalf("podman exec 'exit 5': %v, want exit code 5", err)
	}
	if tty {
		out = e.must(t, "exec", "-t", name, "tty")
		if !strings.HasPrefix(strings.TrimSpace(out), "/dev/pts/") {
			t.Fatalf("podman exec -t: tty says %q", out)
		}
	}
	start := time.Now()
	e.must(t, "stop", "-t", "2", name)
	if st := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.State.Status}}", name)); st != "exited" {
		t.Fatalf("after podman stop: status %q, want exited", st)
	}
	t.Logf("podman stop took %v", time.Since(start))
	e.must(t, "rm", name)
}
