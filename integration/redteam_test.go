package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"github.com/nsfork/nsfork/internal/testreq"
	"golang.org/x/sys/unix"
)

// TestRedteamOCIForeignRoot: a state directory someone else can write (as
// root: another user's; as anyone: one open to every user) is refused by
// the commands that act on containers. Before, whoever could write it
// planted a state.json whose poststop hook `delete --force` ran with the
// caller's privileges (and whose pids kill signalled).
func TestRedteamOCIForeignRoot(t *testing.T) {
	bin := sandboxrunBin(t)
	base := tempDir(t)
	mark := filepath.Join(base, "hook-ran")
	dirs := map[string]func(string) error{
		"open to all": func(d string) error { return os.Chmod(d, 0o777) },
	}
	if root() {
		dirs["another user's"] = func(d string) error { return os.Chown(d, 65534, 65534) }
	}
	i := 0
	for name, prepare := range dirs {
		i++
		state := filepath.Join(base, fmt.Sprintf("state%d", i))
		id := "planted"
		if err := os.MkdirAll(filepath.Join(state, id), 0o755); err != nil {
			t.Fatal(err)
		}
		rec := fmt.Sprintf(`{"id":%q,"bundle":"/","init":{"pid":0,"start":0},"monitor":{"pid":0,"start":0},`+
			`"hooks":{"poststop":[{"path":"/bin/sh","args":["sh","-c","echo > %s"]}]}}`, id, mark)
		if err := os.WriteFile(filepath.Join(state, id, "state.json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := prepare(state); err != nil {
			t.Fatal(err)
		}
		for _, verb := range [][]string{{"delete", "--force", id}, {"kill", id, "KILL"}, {"start", id}} {
			out, err := exec.Command(bin, append([]string{"--root", state}, verb...)...).CombinedOutput()
			if _, serr := os.Stat(mark); serr == nil {
				t.Fatalf("%s state directory: `%v` ran the planted record's hook (output %q)", name, verb, out)
			}
			if err == nil {
				t.Errorf("%s state directory: `%v` succeeded, want a refusal (output %q)", name, verb, out)
			}
		}
		// Reading it stays possible for its owner's records (list exits 0).
		if out, err := exec.Command(bin, "--root", state, "list", "--quiet").CombinedOutput(); err != nil {
			t.Errorf("%s state directory: list: %v (%q)", name, err, out)
		}
	}
}

// redteamWrapEnv makes TestRedteamWrapper set no_new_privs and, by its
// value, enter a Landlock domain, then exec sandboxrun (redteamSbxEnv)
// with its remaining arguments (after "--"):
//   - "nnp": no domain;
//   - "landlock": a domain that writes nothing (ABI 1: every path read-only);
//   - "landlock-signal": a domain that handles no file access at all, only
//     signals to processes outside it (ABI 6 scope).
const (
	redteamWrapEnv = "NSFORK_REDTEAM_WRAP"
	redteamSbxEnv  = "NSFORK_REDTEAM_SANDBOXRUN"
)

// TestRedteamWrapper is a helper, not a test: see redteamWrapEnv.
func TestRedteamWrapper(t *testing.T) {
	mode := os.Getenv(redteamWrapEnv)
	if mode == "" {
		t.Skip("helper for TestRedteamWarmLandlockedCaller")
	}
	bin := os.Getenv(redteamSbxEnv)
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, redteamWrapEnv+"=") || strings.HasPrefix(kv, redteamSbxEnv+"=")
	})
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "no_new_privs:", err)
		os.Exit(2)
	}
	var err error
	switch mode {
	case "landlock":
		err = landlock.V1.RestrictPaths(landlock.RODirs("/"))
	case "landlock-signal":
		err = landlock.MustConfig(landlock.ScopedSet(llsys.ScopeSignal)).RestrictScoped()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "landlock:", err)
		os.Exit(2)
	}
	err = unix.Exec(bin, append([]string{bin}, args...), env)
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(2)
}

// TestRedteamWarmLandlockedCaller: a process of the pool's user and
// context that confined itself with Landlock (a browser's helper, a
// build step: anything that called landlock_restrict_self) asks the pool
// for a command. A cold launch from it inherits its domain (and, with a
// domain that handles file access, cannot even mount); a warm one must
// not run the command outside it. Nothing in /proc shows a domain: the
// server asks every caller to read one of its descriptors through
// /proc/SERVER/fd, which the kernel refuses a process in a domain the
// server is not in, whatever the domain handles (internal/warm/proof.go).
// Both domains are refused, with nothing run: the one that writes nothing
// (the command's write to a --rw directory must fail as it would cold)
// and one that handles no file access, only signals (the command runs
// neither).
func TestRedteamWarmLandlockedCaller(t *testing.T) {
	abi, _ := llsys.LandlockGetABIVersion()
	testreq.Need(t, abi >= 6, "Landlock ABI 6 (Linux 6.12) for a signal-scoped domain; this kernel has ABI %d", abi)
	h := newWarmHome(t)
	rw := sharedDir(t)
	bin := sandboxrunBin(t)
	wrap := func(mode string, args ...string) cliResult {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, self, append(append(helperTest("TestRedteamWrapper"), "--"), args...)...)
		cmd.Env = append(slices.Clone(h.env), redteamWrapEnv+"="+mode, redteamSbxEnv+"="+bin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		code := exitOf(t, args, cmd.Run(), ctx)
		return cliResult{o.String(), e.String(), code}
	}
	flags := []string{"--warm", "--rw", rw, "--"}
	// The pool, made by the user's no_new_privs context.
	if r := wrap("nnp", append(flags, "true")...); r.code != 0 {
		t.Fatalf("first launch: exit %d, %q", r.code, r.err)
	}
	waitFor(30*time.Second, func() bool { return len(h.servers(t)) == 1 })
	if len(h.servers(t)) != 1 {
		t.Fatalf("no pool server")
	}
	// Control: the same context without Landlock writes through the pool.
	ok := filepath.Join(rw, "control")
	if r := wrap("nnp", append(flags, "/bin/sh", "-c", "echo > "+ok)...); r.code != 0 {
		t.Fatalf("control launch: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	if _, err := os.Stat(ok); err != nil {
		t.Fatalf("control: the pool's command did not write %s: %v", ok, err)
	}
	// Control: cold, the Landlock-confined caller's command writes
	// nothing (its domain is inherited; it cannot even mount).
	cold := filepath.Join(rw, "cold")
	wrap("landlock", "--rw", rw, "--", "/bin/sh", "-c", "echo > "+cold)
	if _, err := os.Stat(cold); err == nil {
		t.Fatalf("control: a cold launch from a Landlock domain wrote %s", cold)
	}
	for _, mode := range []string{"landlock", "landlock-signal"} {
		escaped := filepath.Join(rw, "escaped-"+mode)
		r := wrap(mode, append(flags, "/bin/sh", "-c", "echo > "+escaped)...)
		if strings.Contains(r.err, "landlock:") {
			t.Fatalf("%s: the wrapper could not enter a Landlock domain: %q", mode, r.err)
		}
		if _, err := os.Stat(escaped); err == nil {
			t.Errorf("%s: a Landlock-confined caller's command ran outside its domain through the warm pool: it wrote %s (exit %d, stderr %q)", mode, escaped, r.code, r.err)
		}
		if r.code != 125 || !strings.Contains(r.err, "Landlock domain") {
			t.Errorf("%s: exit %d, stderr %q; want 125 and the refusal naming the Landlock domain", mode, r.code, r.err)
		}
	}
	// The pool still serves its own context.
	again := filepath.Join(rw, "again")
	if r := wrap("nnp", append(flags, "/bin/sh", "-c", "echo > "+again)...); r.code != 0 {
		t.Errorf("after the refusals: exit %d, stderr %q", r.code, r.err)
	}
	if len(h.servers(t)) != 1 {
		t.Errorf("servers after the refusals: %v, want the one pool", h.servers(t))
	}
}

// TestRedteamSharedBindNoLeak: a bundle binds a host directory rshared and
// gives the container CAP_SYS_ADMIN; what it mounts beneath the bind
// propagates within the container's own peer group only, never to the
// host's mount table (runc spec's bundle: no user namespace as root, its
// own rootless).
func TestRedteamSharedBindNoLeak(t *testing.T) {
	dir := mountBundle(t)
	host := sharedDir(t)
	sub := filepath.Join(host, "sub")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(sub, 0o777)
	os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", "mount"))
	os.MkdirAll(filepath.Join(dir, "rootfs", "rs"), 0o755)
	editConfig(t, dir, func(spec map[string]any) {
		addMount(spec, map[string]any{"destination": "/rs", "type": "bind", "source": host, "options": []any{"rbind", "rshared", "rw"}})
		caps := jsonObj(spec, "process", "capabilities")
		for _, set := range []string{"bounding", "effective", "permitted"} {
			caps[set] = []any{"CAP_SYS_ADMIN"}
		}
	})
	out := mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", "mount -t tmpfs redteamleak /rs/sub && cat /proc/self/mountinfo")
	if !strings.Contains(out, "redteamleak") {
		t.Fatalf("the container could not mount beneath its rshared bind (the attack did not run): %q", out)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "redteamleak") || strings.Contains(string(b), " "+sub+" ") {
		t.Errorf("the container's mount beneath an rshared bind reached the host: %s", b)
	}
}
