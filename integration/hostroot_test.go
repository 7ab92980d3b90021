package integration

// Root of a user namespace that maps host root (`unshare -r` run by host
// root: uid_map "0 0 1") is not host root, but its uid 0 is host uid 0,
// with the owner's rights on every root-owned file. Every launch path
// refuses to give a sandbox that uid (sandbox.ErrHostRoot) unless the
// caller opts in (--host-root, Options.TrustedHostRoot). The
// attack: a root-owned mode 0600 file, which `unshare -r cat` reads.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("hostroot.read", hostRootRead)
}

// hostRootRead says on stdout that a child ran, then returns the content
// of path, or why it could not be read.
func hostRootRead(path string) string {
	fmt.Println("hostroot.read ran")
	b, err := os.ReadFile(path)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

const (
	hostRootForkEnv = "NSFORK_TEST_HOSTROOT_FORK"
	hostRootFileEnv = "NSFORK_TEST_HOSTROOT_FILE"
)

// hostRootSecret is a root-owned mode 0600 file under the test's
// directory, for root; uid 65534 cannot make one and gets /etc/shadow
// (root:shadow 0640), which it cannot read either.
func hostRootSecret(t *testing.T) (path, content string) {
	if !root() {
		return "/etc/shadow", ""
	}
	content = fmt.Sprintf("nsfork secret %d\n", os.Getpid())
	path = filepath.Join(tempDir(t), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, content
}

// TestHostRootRefused: as host root under `unshare -r`, the control run
// reads the secret, sandboxrun (defaults, --share user, --warm, OCI run
// and create) fails (the CLI with 125) saying why and how out, leaving no
// container state, doctor reports it, and the
// Go API (ForkIsolated, Start, NewPool) returns ErrHostRoot without
// starting a child; with the opt-in (--host-root, TrustedHostRoot on the
// defaults) both run and read it. As uid 65534
// under `unshare -r` the same launches run and read nothing of root's.
func TestHostRootRefused(t *testing.T) {
	if os.Getenv(hostRootForkEnv) == "1" {
		hostRootForkChild()
		return
	}
	needUnshare(t)
	file, secret := hostRootSecret(t)
	t.Run("Fork", func(t *testing.T) {
		t.Setenv(hostRootFileEnv, file)
		out := string(testreq.RunAsNSRoot(t, "TestHostRootRefused", hostRootForkEnv, 0))
		want := []string{"default: refused=true typed=true process=false", "Start: refused=true process=false", "NewPool: refused=true pool=false",
			fmt.Sprintf("trusted: err=<nil> read=%q", secret)}
		if !root() {
			want = []string{"default: refused=false typed=false process=true", "Start: refused=false process=true", "NewPool: refused=false pool=true", "trusted: err=<nil> read=\"error: "}
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("Go API as root of a user namespace mapping uid %d: want %q in\n%s", os.Geteuid(), w, out)
			}
		}
		if ran := strings.Count(out, "hostroot.read ran"); root() && ran != 1 {
			t.Errorf("%d children ran, want only the opted-in one:\n%s", ran, out)
		}
	})
	t.Run("CLI", func(t *testing.T) { hostRootCLI(t, file, secret) })
}

// hostRootForkChild runs as root of a user namespace that maps the test's
// uid to 0.
func hostRootForkChild() {
	file := os.Getenv(hostRootFileEnv)
	ctx := context.Background()
	var se *sandbox.Error
	//lint:ignore SA1019 the deprecated name, (*Config).Start underneath, is refused too
	p, err := fork.ForkIsolated("hostroot.read", sandbox.Default(), file)
	fmt.Printf("default: refused=%v typed=%v process=%v %v\n", errors.Is(err, sandbox.ErrHostRoot), errors.As(err, &se), p != nil, err)
	if p != nil {
		fmt.Printf("default: wait=%v\n", p.Wait())
	}
	p, err = (&fork.Config{}).Start(ctx, "hostroot.read", sandbox.Rootless(), file)
	fmt.Printf("Start: refused=%v process=%v\n", errors.Is(err, sandbox.ErrHostRoot), p != nil)
	if p != nil {
		p.Wait()
	}
	pool, err := fork.NewPool(sandbox.Default(), 1)
	fmt.Printf("NewPool: refused=%v pool=%v\n", errors.Is(err, sandbox.ErrHostRoot), pool != nil)
	if pool != nil {
		got, err := pool.Call(ctx, "hostroot.read", file)
		fmt.Printf("pool: err=%v read=%q\n", err, got)
		pool.Close()
	}
	opts := sandbox.Default()
	opts.TrustedHostRoot = true // the opt-in, trusted code only
	got, err := fork.Call[string](ctx, "hostroot.read", opts, file)
	fmt.Printf("trusted: err=%v read=%q\n", err, got)
}

// hostRootCLI: sandboxrun under root's `unshare -r`, against the control.
func hostRootCLI(t *testing.T, file, secret string) {
	bin := sandboxrunBin(t)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command("unshare", append([]string{"-r"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if !root() {
		out, errs, code := run(bin, "--", "cat", file)
		if code != 1 || out != "" || !strings.Contains(errs, "Permission denied") {
			t.Errorf("uid 65534 under unshare -r: sandboxrun -- cat %s: exit %d, %q %q: want it to run, denied (exit 1)", file, code, out, errs)
		}
		return
	}
	if out, errs, code := run("cat", file); code != 0 || out != secret {
		t.Fatalf("control: unshare -r cat %s: exit %d %q %q, want the secret: the attack does not work here", file, code, out, errs)
	}
	for _, args := range [][]string{{}, {"--share", "user"}, {"--warm"}, {"--rootless"}} {
		out, errs, code := run(append(append([]string{bin}, args...), "--", "cat", file)...)
		if code != 125 || strings.Contains(out, secret) || !strings.Contains(errs, "host uid 0") || !strings.Contains(errs, "--host-root") {
			t.Errorf("unshare -r sandboxrun %v -- cat: exit %d, stdout %q, stderr %q: want exit 125 saying host uid 0 and --host-root", args, code, out, errs)
		}
	}
	stateDir := filepath.Join(tempDir(t), "state")
	bundle := ociBundle(t, nil, "true")
	for _, verb := range []string{"run", "create"} {
		out, errs, code := run(bin, "--root", stateDir, verb, "--bundle", bundle, "h-"+verb)
		if code == 0 || !strings.Contains(out+errs, "host uid 0") {
			t.Errorf("unshare -r sandboxrun %s: exit %d %q %q: want a failure saying host uid 0", verb, code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(stateDir, "h-"+verb)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after the refused %s: %s/h-%s: %v, want nothing left", verb, stateDir, verb, err)
		}
	}
	// As `runc spec --rootless` makes it: no device rules (cgroup v1's
	// devices controller takes them only from CAP_SYS_ADMIN over the
	// host), no gid=5 for devpts (a namespace mapping only 0 lacks it).
	plain := ociBundle(t, func(s *specs.Spec) {
		s.Linux.Resources = nil
		for i, m := range s.Mounts {
			s.Mounts[i].Options = slices.DeleteFunc(m.Options, func(o string) bool { return strings.HasPrefix(o, "gid=") })
		}
	}, "true")
	if out, errs, code := run(bin, "--host-root", "--root", stateDir, "run", "--bundle", plain, "h-opt"); code != 0 {
		t.Errorf("unshare -r sandboxrun --host-root run: exit %d %q %q, want the opt-in to run the bundle", code, out, errs)
	}
	out, _, _ := run(bin, "doctor")
	if !strings.Contains(out, "FAIL  identity") || !strings.Contains(out, "host root's") {
		t.Errorf("doctor under root's unshare -r does not report the condition:\n%s", out)
	}
	if out, errs, code := run(bin, "--host-root", "--", "cat", file); code != 0 || out != secret {
		t.Errorf("unshare -r sandboxrun --host-root -- cat: exit %d %q %q, want the opt-in to run as host uid 0", code, out, errs)
	}
}

// asNSRootUser runs cmd as uid 65534 when the suite runs as root: root's
// `unshare -r` is refused (TestHostRootRefused), so the lifecycle of root
// of a user namespace runs as that user's namespace root in both suites.
func asNSRootUser(cmd *exec.Cmd) *exec.Cmd {
	if root() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: rootlessPodmanUID, Gid: rootlessPodmanUID, Groups: []uint32{}}}
	}
	return cmd
}

// TestHostGroupRefused: a user whose supplementary groups include host gid
// 0 cannot drop them in a sandbox of its own (the user namespace it makes
// denies setgroups), so the sandbox would have root's group rights on
// every root-owned file: a root:root mode 0640 file, which the user
// itself reads (the control), is refused by default (exit 125, saying
// host gid 0 and --host-root), read with the opt-in, and a user without
// group 0 runs, denied.
func TestHostGroupRefused(t *testing.T) {
	testreq.RootOnly(t, "runs sandboxrun as uid 65534 with supplementary group 0")
	bin := sandboxrunBin(t)
	dir := tempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "group-secret")
	secret := fmt.Sprintf("nsfork group secret %d\n", os.Getpid())
	if err := os.WriteFile(file, []byte(secret), 0o640); err != nil {
		t.Fatal(err)
	}
	run := func(groups []uint32, args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: rootlessPodmanUID, Gid: rootlessPodmanUID, Groups: groups}}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	root0 := []uint32{0}
	if out, errs, code := run(root0, "cat", file); code != 0 || out != secret {
		t.Fatalf("control: cat %s with group 0: exit %d %q %q, want the secret: the attack does not work here", file, code, out, errs)
	}
	for _, args := range [][]string{{}, {"--share", "user"}, {"--warm"}} {
		out, errs, code := run(root0, append(append([]string{bin}, args...), "--", "cat", file)...)
		if code != 125 || strings.Contains(out, secret) || !strings.Contains(errs, "host gid 0") || !strings.Contains(errs, "--host-root") {
			t.Errorf("group 0: sandboxrun %v -- cat: exit %d, stdout %q, stderr %q: want exit 125 saying host gid 0 and --host-root", args, code, out, errs)
		}
	}
	if out, errs, code := run(root0, bin, "--host-root", "--", "cat", file); code != 0 || out != secret {
		t.Errorf("group 0: sandboxrun --host-root -- cat: exit %d %q %q, want the opt-in to keep the group", code, out, errs)
	}
	if out, errs, code := run([]uint32{100}, bin, "--", "cat", file); code != 1 || out != "" || !strings.Contains(errs, "Permission denied") {
		t.Errorf("without group 0: sandboxrun -- cat: exit %d %q %q, want it to run, denied", code, out, errs)
	}
	if _, errs, code := run([]uint32{100}, bin, "--host-root", "--", "true"); code != 125 || !strings.Contains(errs, "none of your ids is host root's") {
		t.Errorf("without group 0: sandboxrun --host-root: exit %d %q, want it refused", code, errs)
	}
}
