package integration

// containerd 1.6 (Debian 12) with its runc shim (io.containerd.runc.v2)
// drives sandboxrun through `ctr run --runc-binary` (docs/oci-runtime.md,
// "containerd"): run with the container's exit status, a detached task,
// task exec, kill, removal. Root only. The test runs a containerd of its
// own (root, state and socket in a temporary directory) and stops it; the
// image is the busybox rootfs of the podman test, saved as an OCI archive.
// The shim keeps its sockets and fifos under /run/containerd whatever the
// config says: the test removes that directory if it made it.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/testreq"
)

func TestOCIContainerd(t *testing.T) {
	for _, tool := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		_, err := exec.LookPath(tool)
		testreq.Need(t, err == nil, "%s (Debian containerd) is needed", tool)
	}
	e := newPodmanEnv(t) // root only; the image and a static sandboxrun
	dir := tempDir(t)
	os.Chmod(dir, 0o755)
	if _, err := os.Stat("/run/containerd"); err == nil {
		testreq.Need(t, false, "/run/containerd exists: another containerd runs here, and its shims share that directory")
	}
	t.Cleanup(func() { os.RemoveAll("/run/containerd") })
	sock := filepath.Join(dir, "c.sock")
	conf := filepath.Join(dir, "config.toml")
	cfg := "version = 2\nroot = \"" + filepath.Join(dir, "root") + "\"\nstate = \"" + filepath.Join(dir, "state") + "\"\n[grpc]\n  address = \"" + sock + "\"\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d := exec.Command("containerd", "--config", conf)
	d.Stdout, d.Stderr = logf, logf
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.Process.Kill()
			<-done
		}
		exec.Command("umount", "-R", filepath.Join(dir, "root")).Run()
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd did not listen on %s within 10 s:\n%s", sock, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctr := func(args ...string) (string, error) {
		out, err := exec.Command("ctr", append([]string{"-a", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	must := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := ctr(args...)
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	archive := filepath.Join(dir, "bb-oci.tar")
	e.must(t, "save", "--format", "oci-archive", "-o", archive, e.image)
	must(t, "images", "import", "--base-name", strings.TrimSuffix(e.image, ":latest"), archive)
	var image string
	for _, l := range strings.Fields(must(t, "images", "ls", "-q")) {
		if l == e.image {
			image = l
		}
	}
	if image == "" {
		t.Fatalf("ctr images import: no %s image:\n%s", e.image, must(t, "images", "ls", "-q"))
	}
	// The runc shim runs the binary with runc's global flags; --host-root
	// as for podman (trusted images only).
	wrap := filepath.Join(dir, "sandboxrun-host-root")
	argvLog := filepath.Join(dir, "argv.log")
	script := "#!/bin/sh\necho \"$*\" >> " + argvLog + "\nexec " + e.bin + " --host-root \"$@\"\n"
	if err := os.WriteFile(wrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	runcRoot := filepath.Join(dir, "runc")

	t.Run("Run", func(t *testing.T) {
		out, err := ctr("run", "--rm", "--runc-binary", wrap, "--runc-root", runcRoot, image, "r1", "sh", "-c", "id -u; exit 3")
		if podmanExit(err) != 3 || !strings.HasPrefix(out, "0\n") {
			t.Fatalf("ctr run 'id -u; exit 3': %v, output %q; want uid 0 and exit code 3", err, out)
		}
	})

	t.Run("ExecKill", func(t *testing.T) {
		must(t, "run", "-d", "--runc-binary", wrap, "--runc-root", runcRoot, image, "t1", "sleep", "300")
		out, err := ctr("task", "exec", "--exec-id", "e1", "t1", "sh", "-c", "echo exec-ok; exit 5")
		if podmanExit(err) != 5 || !strings.Contains(out, "exec-ok") {
			t.Fatalf("ctr task exec: %v, output %q; want exec-ok and exit code 5", err, out)
		}
		must(t, "task", "kill", "t1")
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(must(t, "task", "ls"), "STOPPED") {
			if time.Now().After(deadline) {
				t.Fatalf("the task did not stop within 10 s of ctr task kill:\n%s", must(t, "task", "ls"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		must(t, "task", "rm", "t1")
		must(t, "container", "rm", "t1")
	})

	// Nothing left in the runtime's state directory.
	if ents, err := os.ReadDir(filepath.Join(runcRoot, "default")); err == nil && len(ents) > 0 {
		t.Errorf("left in the runtime's state directory: %v", ents)
	}
	b, _ := os.ReadFile(argvLog)
	for _, want := range []string{"--log-format json create --bundle", "--pid-file", "start ", "exec ", "--process", "--detach", "kill ", "delete"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("containerd's shim never passed %q; its command lines:\n%s", want, b)
		}
	}
}
