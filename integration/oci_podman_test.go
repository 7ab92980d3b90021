package integration

// podman (Debian's 4.3, with conmon) drives sandboxrun as its OCI runtime
// (docs/oci-runtime.md, "podman"): run with and without a terminal, exec,
// stop, --network none. Root only (rootful podman): the test uses a podman
// storage and run directory of its own (--root, --runroot), imports a
// busybox rootfs built here, and removes both afterwards, so the host's
// podman images and containers are untouched.
//
// The podman lines are the documented ones: --runtime-flag host-root
// (podman's rootful configs have no user namespace and a root-only rootfs;
// trusted images only) and --ulimit (this host's default rlimits cannot be
// raised, for runc or crun either). podman's default sysctl
// (net.ipv4.ping_group_range, in the network namespace it made) is applied.

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/testreq"
)

// podmanEnv is a private podman storage driving a static sandboxrun.
type podmanEnv struct {
	bin     string // static sandboxrun
	args    []string
	env     []string
	image   string
	argvLog string
}

func newPodmanEnv(t *testing.T) *podmanEnv {
	t.Helper()
	testreq.RootOnly(t, "rootful podman")
	for _, tool := range []string{"podman", "conmon", "nsenter"} {
		_, err := exec.LookPath(tool)
		testreq.Need(t, err == nil, "%s (Debian podman, conmon, util-linux) is needed", tool)
	}
	bb, err := exec.LookPath("busybox")
	testreq.Need(t, err == nil, "busybox (Debian busybox-static) is needed")
	dir := tempDir(t)
	os.Chmod(dir, 0o755)
	e := &podmanEnv{bin: staticSandboxrun(t, dir), image: "localhost/nsfork-podman-test:latest", argvLog: filepath.Join(dir, "argv.log")}
	// A wrapper that records podman's command lines (the runc interface
	// podman uses), then runs sandboxrun.
	wrap := filepath.Join(dir, "sandboxrun-wrap")
	script := "#!/bin/sh\necho \"$*\" >> " + e.argvLog + "\nexec " + e.bin + " \"$@\"\n"
	if err := os.WriteFile(wrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.env = os.Environ()
	// podman refuses a run root longer than 50 bytes: one beside the
	// test's directory, with a short name.
	runroot, err := os.MkdirTemp(filepath.Dir(filepath.Dir(dir)), "prun")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runroot) })
	e.args = []string{"--root", filepath.Join(dir, "storage"), "--runroot", runroot,
		"--runtime", wrap, "--runtime-flag", "host-root"}
	tarball := filepath.Join(dir, "bb.tar")
	writeBusyboxTar(t, bb, tarball)
	e.must(t, "import", "-q", tarball, e.image)
	t.Cleanup(func() {
		e.podman("rm", "-af", "-t", "0")
		e.podman("rmi", "-af")
		// The storage's overlay mounts go with a reset of the private root.
		e.podman("system", "reset", "-f")
	})
	return e
}

// staticSandboxrun builds a statically linked sandboxrun into dir: exec
// runs part of it inside the container.
func staticSandboxrun(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sandboxrun")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/sandboxrun")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build of sandboxrun: %v: %s", err, out)
	}
	return bin
}

// writeBusyboxTar writes a rootfs tarball: bin/busybox and its applets.
func writeBusyboxTar(t *testing.T, bb, path string) {
	t.Helper()
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []string{"bin/", "dev/", "proc/", "sys/", "tmp/", "etc/", "root/"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: now})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(data)), ModTime: now})
	tw.Write(data)
	for _, a := range []string{"sh", "id", "hostname", "sleep", "cat", "echo", "tty", "ls", "true", "ps"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", ModTime: now})
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *podmanEnv) podman(args ...string) (string, error) {
	cmd := exec.Command("podman", append(append([]string{}, e.args...), args...)...)
	cmd.Env = e.env
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *podmanEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.podman(args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runArgs are the documented `podman run` flags.
var podmanRunArgs = []string{"run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

func TestOCIPodman(t *testing.T) {
	e := newPodmanEnv(t)

	t.Run("Run", func(t *testing.T) {
		out := e.must(t, append(podmanRunArgs, e.image, "sh", "-c", "id -u; cat /proc/sys/net/ipv4/ping_group_range; hostname; cat /proc/self/status | grep ^NoNewPrivs")...)
		if !strings.HasPrefix(out, "0\n") {
			t.Fatalf("podman run: want uid 0 inside first, got %q", out)
		}
		// podman's default_sysctls: net.ipv4.ping_group_range=0 0 (the
		// kernel's default is "1 0").
		if lines := strings.Split(out, "\n"); len(lines) < 2 || strings.Join(strings.Fields(lines[1]), " ") != "0 0" {
			t.Fatalf("podman run: net.ipv4.ping_group_range inside is not podman's default \"0 0\": %q", out)
		}
		_, err := e.podman(append(podmanRunArgs, e.image, "sh", "-c", "exit 3")...)
		if code := podmanExit(err); code != 3 {
			t.Fatalf("podman run of 'exit 3': exit code %d (%v), want 3 (conmon must get the container's status)", code, err)
		}
	})

	t.Run("NetworkNone", func(t *testing.T) {
		out := e.must(t, append(podmanRunArgs, "--network", "none", e.image, "sh", "-c", "ls /sys/class/net")...)
		if strings.TrimSpace(out) != "lo" {
			t.Fatalf("--network none: interfaces %q, want only lo", out)
		}
	})

	t.Run("Terminal", func(t *testing.T) {
		out := e.must(t, append(podmanRunArgs, "-t", "--network", "none", e.image, "sh", "-c", "tty")...)
		if !strings.HasPrefix(strings.TrimSpace(out), "/dev/pts/") {
			t.Fatalf("podman run -t: tty says %q, want a /dev/pts terminal of the container's", out)
		}
	})

	t.Run("ExecStop", func(t *testing.T) { podmanExecStop(t, e, e.image, "nsfork-podman-exec", true) })

	// What podman asked of the runtime: runc's create/start/exec/kill/
	// delete with --pid-file, --console-socket, --process --detach.
	b, _ := os.ReadFile(e.argvLog)
	for _, want := range []string{"create --bundle", "--pid-file", "start ", "exec ", "--process", "--detach", "kill ", "delete --force"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("podman never passed %q to the runtime; its command lines:\n%s", want, b)
		}
	}
}

// podmanExit is podman's exit code (-1: it did not run or exit).
func podmanExit(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
