package integration

// End-to-end tests of the sandboxrun binary, built once per test binary.
// Every effect is checked from inside the sandbox, with the tools the
// command itself would use.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/int80"
	"github.com/nsfork/nsfork/sandbox"
)

var (
	cliOnce sync.Once
	cliBin  string
	cliDir  string
	cliErr  error
)

// sandboxrunBin returns the path of a sandboxrun built from this tree
// (or $NSFORK_SANDBOXRUN, when set). The directory is world-readable so
// that the same binary serves the root and the rootless suite.
func sandboxrunBin(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		if p := os.Getenv("NSFORK_SANDBOXRUN"); p != "" {
			cliBin = p
			return
		}
		cliBin, cliErr = buildSandboxrun()
	})
	if cliErr != nil {
		require(t, false, "cannot build sandboxrun: "+cliErr.Error())
	}
	return cliBin
}

func buildSandboxrun() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	modRoot := filepath.Dir(filepath.Dir(file))
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	dir, err := os.MkdirTemp("", "nsfork-cli-")
	if err != nil {
		return "", err
	}
	cliDir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sandboxrun")
	cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", bin, "./cmd/sandboxrun")
	cmd.Dir = modRoot
	cmd.Env = os.Environ()
	// The rootless suite runs with a HOME it cannot write and cannot read
	// root's module cache: give go a private cache (which downloads the
	// modules; set NSFORK_SANDBOXRUN to a prebuilt binary to avoid that).
	if out, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
		if _, err := os.ReadDir(strings.TrimSpace(string(out))); err != nil {
			cmd.Env = append(cmd.Env, "GOMODCACHE="+filepath.Join(dir, "mod"), "GOFLAGS=-modcacherw")
		}
	}
	if out, err := exec.Command(goBin, "env", "GOCACHE").Output(); err == nil {
		if err := os.MkdirAll(strings.TrimSpace(string(out)), 0o755); err != nil {
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(dir, "cache"))
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sandboxrun: %v: %s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return "", err
	}
	return bin, nil
}

// TestCLI runs every sandboxrun test against one build, which TestMain
// removes once every test of the binary has run (TestOCIConfig and
// TestProtectBundle use it too). Run one with -run 'TestCLI/Report'.
func TestCLI(t *testing.T) {
	t.Run("Defaults", cliDefaults)
	t.Run("SeccompDefaultBlocks", cliSeccompDefaultBlocks)
	t.Run("FlagEffects", cliFlagEffects)
	t.Run("Landlock", cliLandlock)
	t.Run("ExitCodes", cliExitCodes)
	t.Run("LauncherErrors", cliLauncherErrors)
	t.Run("CgroupLimits", cliCgroupLimits)
	t.Run("OOM", cliOOM)
	t.Run("SignalForwarding", cliSignalForwarding)
	t.Run("Timeout", cliTimeout)
	t.Run("Report", cliReport)
	t.Run("Strict", cliStrict)
	t.Run("Bundle", cliBundle)
	t.Run("Rootfs", cliRootfs)
	t.Run("Doctor", cliDoctor)
	t.Run("HelpCompletionCleanup", cliHelpCompletionCleanup)
}

type cliResult struct {
	out, err string
	code     int
}

// sbx runs sandboxrun with args and stdin, with a deadline.
func sbx(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	bin := sandboxrunBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	code := exitOf(t, args, cmd.Run(), ctx)
	return cliResult{o.String(), e.String(), code}
}

// exitOf is the exit code of sandboxrun args that ran with ctx's deadline;
// anything else than an exit fails t.
func exitOf(t *testing.T, args []string, err error, ctx context.Context) int {
	t.Helper()
	if ctx.Err() != nil {
		t.Fatalf("sandboxrun %q: timed out", args)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		t.Fatalf("sandboxrun %q: %v", args, err)
	}
	return 0
}

// mustRun runs sandboxrun and requires exit 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := sbx(t, "", args...)
	if r.code != 0 {
		t.Fatalf("sandboxrun %q: exit %d, stderr %q, stdout %q", args, r.code, r.err, r.out)
	}
	return r.out
}

func statusOf(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func ownNS(t *testing.T, name string) string {
	l, err := os.Readlink("/proc/self/ns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// cliDefaults: a bare `sandboxrun -- CMD` runs CMD as root inside new
// namespaces with no capabilities, no_new_privs and a seccomp filter.
func cliDefaults(t *testing.T) {
	out := mustRun(t, "--", "/bin/sh", "-c", `id -u; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/self/uid_map; for n in user pid mnt uts ipc net; do echo "ns-$n:$(readlink /proc/self/ns/$n)"; done`)
	lines := strings.Split(out, "\n")
	if lines[0] != "0" {
		t.Errorf("id -u = %q, want 0", lines[0])
	}
	st := statusOf(out)
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb"} {
		if st[k] != "0000000000000000" {
			t.Errorf("%s = %q, want none", k, st[k])
		}
	}
	if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("NoNewPrivs %q Seccomp %q, want 1 and 2", st["NoNewPrivs"], st["Seccomp"])
	}
	newNS := []string{"pid", "mnt", "uts", "ipc", "user"}
	newNS = append(newNS, "net")
	if root() {
		// As root a new user namespace in which ids 0-65535 are a range
		// of unprivileged host ids of the sandbox's own: never host root.
		m := regexp.MustCompile(`(?m)^\s*0\s+(\d+)\s+65536$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("root: want 0-65535 mapped onto a range of the pool, got %q", out)
		}
		if base, _ := strconv.ParseUint(m[1], 10, 32); base < sandbox.IDPoolStart || base+sandbox.IDRangeSize > sandbox.IDPoolEnd {
			t.Errorf("root: host range starts at %d, outside nsfork's pool", base)
		}
	} else {
		if !regexp.MustCompile(`(?m)^\s*0\s+` + strconv.Itoa(os.Geteuid()) + `\s+1$`).MatchString(out) {
			t.Errorf("rootless: want 0 mapped to %d, got %q", os.Geteuid(), out)
		}
	}
	for _, n := range newNS {
		if st["ns-"+n] == "" || st["ns-"+n] == ownNS(t, n) {
			t.Errorf("%s namespace %q is not new", n, st["ns-"+n])
		}
	}
}

// cliSeccompDefaultBlocks: Docker's profile forbids unshare(2)
// without CAP_SYS_ADMIN; unconfined lets the same call through.
func cliSeccompDefaultBlocks(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	require(t, err == nil, "busybox (Debian busybox-static) is needed")
	r := sbx(t, "", "--", bb, "unshare", "-U", "true")
	if r.code == 0 || !strings.Contains(r.err, "Operation not permitted") {
		t.Errorf("default profile: unshare -U exit %d, stderr %q; want EPERM", r.code, r.err)
	}
	out := mustRun(t, "--seccomp", "unconfined", "--", "/bin/sh", "-c", bb+" unshare -U true && grep ^Seccomp: /proc/self/status")
	if statusOf(out)["Seccomp"] != "0" {
		t.Errorf("unconfined: %q", out)
	}
}

func cliFlagEffects(t *testing.T) {
	dir := tempDir(t)
	os.Chmod(dir, 0o777)
	cases := []struct {
		name string
		args []string
		cmd  string
		want string // a regexp the output must match
	}{
		{"hostname", []string{"--hostname", "box"}, "hostname", `^box\n$`},
		{"domainname", []string{"--domainname", "example.org"}, "cat /proc/sys/kernel/domainname", `^example.org\n$`},
		{"uid-gid", []string{"--uid", "1000", "--gid", "1001"}, "id -u; id -g", `^1000\n1001\n$`},
		{"rlimit", []string{"--rlimit", "nofile=77:88"}, "ulimit -n; ulimit -Hn", `^77\n88\n$`},
		{"rlimit-core-default", nil, "ulimit -c", `^0\n$`},
		{"cap-add", []string{"--cap-add", "net_bind_service"}, "grep -E '^Cap(Eff|Bnd):' /proc/self/status", `CapEff:\s+0000000000000400\nCapBnd:\s+0000000000000400`},
		{"cap-drop-all-add", []string{"--cap-drop", "ALL", "--cap-add", "CAP_CHOWN,KILL"}, "grep ^CapEff: /proc/self/status", `CapEff:\s+0000000000000021`},
		{"no-new-privs-off", []string{"--no-new-privs=false"}, "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status", `NoNewPrivs:\s+0\nSeccomp:\s+2`},
		{"env", []string{"--env", "FOO=bar baz"}, `echo "$FOO"`, `^bar baz\n$`},
		{"clearenv", []string{"--clearenv", "--env", "ONLY=1"}, `/usr/bin/env | grep -v -e ^PWD= -e ^SHLVL= -e ^_=`, `^ONLY=1\n$`},
		{"chdir", []string{"--chdir", "/usr"}, "pwd", `^/usr\n$`},
		{"unshare-net", []string{"--unshare-net"}, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", `^lo\n$`},
		{"unshare-cgroup", []string{"--unshare-cgroup"}, "cat /proc/self/cgroup | grep -v ':/$' | wc -l", `^0\n$`},
		{"read-only", []string{"--read-only", "--tmpfs", "/tmp"}, "touch /etc/nsfork-ro 2>&1; touch /tmp/x && echo tmp-writable", `Read-only file system\ntmp-writable\n$`},
		{"bind-ro", []string{"--bind", dir + ":/mnt:ro"}, "touch /mnt/x 2>&1; echo done", `Read-only file system\ndone\n$`},
		{"ro-bind", []string{"--ro-bind", dir + ":/mnt"}, "touch /mnt/x 2>&1; echo done", `Read-only file system\ndone\n$`},
		{"bind-rw", []string{"--bind", dir + ":/mnt"}, "echo hi > /mnt/rw && cat /mnt/rw", `^hi\n$`},
		{"tmpfs-options", []string{"--tmpfs", "/mnt:size=1m,mode=1777"}, "stat -c %a /mnt; df -k /mnt | tail -1 | awk '{print $2}'", `^1777\n1024\n$`},
	}
	if root() {
		cases = append(cases, struct {
			name string
			args []string
			cmd  string
			want string
		}{"share-net", []string{"--share-net"}, "readlink /proc/self/ns/net", "^" + regexp.QuoteMeta(ownNS(t, "net")) + "\n$"},
			struct {
				name string
				args []string
				cmd  string
				want string
			}{"unshare-user-maps", []string{"--unshare-user", "--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536"}, "cat /proc/self/uid_map; id -u", `^\s*0\s+100000\s+65536\n0\n$`})
	} else {
		ranges, _ := sandbox.LookupSubIDs("nobody", os.Geteuid(), sandbox.SubUIDFile)
		if len(ranges) > 0 {
			sub := ranges[0]
			m := fmt.Sprintf("1:%d:1000", sub.Start)
			cases = append(cases, struct {
				name string
				args []string
				cmd  string
				want string
			}{"uid-map-subordinate", []string{"--uid-map", "0:" + strconv.Itoa(os.Geteuid()) + ":1", "--uid-map", m, "--gid-map", "0:" + strconv.Itoa(os.Getegid()) + ":1", "--gid-map", m, "--uid", "5"},
				"cat /proc/self/uid_map; id -u", fmt.Sprintf(`^\s*0\s+%d\s+1\n\s*1\s+%d\s+1000\n5\n$`, os.Geteuid(), sub.Start)})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{}, c.args...), "--", "/bin/sh", "-c", c.cmd)
			out := mustRun(t, args...)
			if !regexp.MustCompile(c.want).MatchString(out) {
				t.Errorf("sandboxrun %q:\n got %q\nwant %s", args, out, c.want)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rw")); !t.Failed() && err != nil || string(b) != "hi\n" {
		t.Errorf("the rw bind mount's write is not visible outside: %q, %v", b, err)
	}
}

// cliLandlock: paths outside the Landlock lists cannot be read.
func cliLandlock(t *testing.T) {
	allow := []string{"--landlock-ro", "/usr", "--landlock-ro", "/lib", "--landlock-ro", "/bin"}
	if _, err := os.Stat("/lib64"); err == nil {
		allow = append(allow, "--landlock-ro", "/lib64")
	}
	r := sbx(t, "", append(allow, "--", "/usr/bin/cat", "/etc/passwd")...)
	if r.code == 0 || !strings.Contains(r.err, "Permission denied") {
		t.Errorf("landlock: cat /etc/passwd exit %d, stderr %q; want a denial", r.code, r.err)
	}
	mustRun(t, append(allow, "--", "/usr/bin/cat", "/usr/share/common-licenses/GPL-3")...)
}

// cliExitCodes: the command's code, 128+N, 124, 125, 126, 127.
func cliExitCodes(t *testing.T) {
	for _, mode := range [][]string{nil, {"--share", "pid"}} {
		for _, c := range []struct {
			args []string
			code int
			err  string // a regexp stderr must match, "" for nothing
		}{
			{[]string{"/bin/sh", "-c", "exit 0"}, 0, ""},
			{[]string{"/bin/sh", "-c", "exit 1"}, 1, ""},
			{[]string{"/bin/sh", "-c", "exit 42"}, 42, ""},
			{[]string{"/bin/sh", "-c", "kill -USR1 $$"}, 128 + int(syscall.SIGUSR1), ""},
			{[]string{"/bin/sh", "-c", "kill -KILL $$"}, 128 + int(syscall.SIGKILL), ""},
			{[]string{"/etc/passwd"}, 126, `^sandboxrun: exec: .*/etc/passwd: permission denied \(EACCES\)\n$`},
			{[]string{"no-such-command-nsfork"}, 127, `^sandboxrun: exec: .*no-such-command-nsfork: no such file or directory \(ENOENT\)\n$`},
		} {
			args := append(append(append([]string{}, mode...), "--"), c.args...)
			r := sbx(t, "", args...)
			if r.code != c.code {
				t.Errorf("sandboxrun %q: exit %d, want %d (stderr %q)", args, r.code, c.code, r.err)
			}
			if c.err == "" && r.err != "" || c.err != "" && !regexp.MustCompile(c.err).MatchString(r.err) {
				t.Errorf("sandboxrun %q: stderr %q, want %q", args, r.err, c.err)
			}
		}
	}
}

// cliLauncherErrors: exit 125 with one line naming the step, the path
// and the errno.
func cliLauncherErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--chdir", "/nonexistent-nsfork", "--", "true"}, `^sandboxrun: cwd: chdir /nonexistent-nsfork: no such file or directory \(ENOENT\)\n$`},
		{[]string{"--no-such-flag", "--", "true"}, `^sandboxrun: unknown flag: --no-such-flag\n$`},
		{[]string{"--rlimit", "bogus=1", "--", "true"}, `^sandboxrun: --rlimit: unknown rlimit "bogus".*\n$`},
		{[]string{"--cap-add", "NOT_A_CAP", "--", "true"}, `^sandboxrun: --cap-add: unknown capability.*\n$`},
		{[]string{"--uid-map", "1:2", "--", "true"}, `^sandboxrun: --uid-map: "1:2" is not CONTAINER:HOST:SIZE\n$`},
		{[]string{"--bind", "/nonexistent-nsfork:/mnt", "--", "true"}, `^sandboxrun: invalid sandbox: mounts\[\d+\]\.source "/nonexistent-nsfork": bind source cannot be used.*\n$`},
		{[]string{"--seccomp", "/nonexistent-nsfork.json", "--", "true"}, `^sandboxrun: --seccomp /nonexistent-nsfork.json: .*no such file or directory.*\n$`},
		{[]string{"--timeout", "1s", "--kill-after", "-1s", "--", "true"}, `^sandboxrun: .*\n$`},
		{nil, `^sandboxrun: no command.*\n$`},
	} {
		r := sbx(t, "", c.args...)
		if r.code != 125 || !regexp.MustCompile(c.err).MatchString(r.err) {
			t.Errorf("sandboxrun %q: exit %d stderr %q; want 125 and %s", c.args, r.code, r.err, c.err)
		}
	}
	if !root() {
		// No cgroup delegation for uid 65534 here: a clear refusal, and
		// running anyway only when asked by name.
		r := sbx(t, "", "--memory", "64m", "--", "true")
		if r.code != 125 || !strings.Contains(r.err, "not delegated") || strings.Count(r.err, "\n") != 1 {
			t.Errorf("rootless --memory: exit %d stderr %q", r.code, r.err)
		}
		mustRun(t, "--memory", "64m", "--cgroups-best-effort", "--", "true")
	}
}

// cliCgroupLimits: --memory/--pids/--cpus put the command in a cgroup
// of its own with those limits (root: the rootless suite has no delegation).
func cliCgroupLimits(t *testing.T) {
	onlyRoot(t)
	out := mustRun(t, "--memory", "64m", "--pids", "50", "--cpus", "0.5", "--", "/bin/sh", "-c", "cat /proc/self/cgroup")
	if !regexp.MustCompile(`(?m)^\d+:(memory|pids|0:):.*nsfork-`).MatchString(out) {
		t.Errorf("not in an nsfork cgroup: %q", out)
	}
	// The sandbox's pid 1 (sandboxrun's own Go runtime, several threads)
	// counts too; 40 sleeps do not fit in 16 either way.
	r := sbx(t, "", "--pids", "16", "--", "/bin/sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; wait")
	if !strings.Contains(r.err, "fork") && !strings.Contains(r.err, "Resource temporarily unavailable") {
		t.Errorf("--pids 16: a shell starting 40 children was not stopped: exit %d stderr %q", r.code, r.err)
	}
}

// cliSignalForwarding: signals sent to sandboxrun reach the command's
// trap, with and without a new pid namespace.
func cliSignalForwarding(t *testing.T) {
	bin := sandboxrunBin(t)
	for _, mode := range [][]string{nil, {"--share", "pid"}} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH} {
			name := strings.TrimPrefix(unixSignalName(sig), "SIG")
			script := fmt.Sprintf(`trap 'echo got-%s; exit 3' %s; echo ready; while :; do sleep 0.05; done`, name, name)
			args := append(append(append([]string{}, mode...), "--"), "/bin/sh", "-c", script)
			cmd := exec.Command(bin, args...)
			stdout, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(stdout)
			if l, _ := br.ReadString('\n'); l != "ready\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("%v %s: got %q, stderr %q", mode, name, l, stderr.String())
			}
			cmd.Process.Signal(sig)
			rest, _ := io.ReadAll(br)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%v %s: sandboxrun did not exit", mode, name)
			}
			if string(rest) != "got-"+name+"\n" || cmd.ProcessState.ExitCode() != 3 {
				t.Errorf("%v %s: output %q exit %d stderr %q; want the trap's output and exit 3", mode, name, rest, cmd.ProcessState.ExitCode(), stderr.String())
			}
		}
	}
}

func unixSignalName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP",
		syscall.SIGQUIT: "SIGQUIT", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2", syscall.SIGWINCH: "SIGWINCH"}[s]
}

// cliTimeout: SIGTERM at the deadline and exit 124; SIGKILL after
// --kill-after for a command that ignores SIGTERM, exit 137.
func cliTimeout(t *testing.T) {
	start := time.Now()
	r := sbx(t, "", "--timeout", "300ms", "--", "sleep", "30")
	if r.code != 124 || time.Since(start) > 20*time.Second {
		t.Errorf("--timeout: exit %d after %v, stderr %q", r.code, time.Since(start), r.err)
	}
	r = sbx(t, "", "--timeout", "300ms", "--kill-after", "300ms", "--", "/bin/sh", "-c", `trap '' TERM; sleep 30`)
	if r.code != 137 || !strings.Contains(r.err, "timed out") {
		t.Errorf("--kill-after: exit %d stderr %q", r.code, r.err)
	}
	mustRun(t, "--timeout", "30s", "--", "true")
}

type cliReportDoc struct {
	Version   int              `json:"version"`
	Command   []string         `json:"command"`
	Requested *sandbox.Options `json:"requested"`
	Seccomp   *struct {
		Name  string `json:"name"`
		Rules int    `json:"rules"`
	} `json:"seccompProfile"`
	Applied *struct {
		Namespaces      map[string]string    `json:"namespaces"`
		UIDMap          string               `json:"uidMap"`
		UID             int                  `json:"uid"`
		Hostname        string               `json:"hostname"`
		Rlimits         map[string][2]uint64 `json:"rlimits"`
		Capabilities    map[string]string    `json:"capabilities"`
		NoNewPrivileges bool                 `json:"noNewPrivileges"`
		Seccomp         *struct {
			Instructions int    `json:"instructions"`
			Digest       string `json:"digest"`
		} `json:"seccomp"`
	} `json:"applied"`
	Parent struct {
		Pid           int      `json:"pid"`
		NewNamespaces []string `json:"newNamespaces"`
	} `json:"parent"`
	Strict *struct {
		OK      bool     `json:"ok"`
		Missing []string `json:"missing"`
	} `json:"strict"`
	Result *struct {
		ExitCode int `json:"exitCode"`
	} `json:"result"`
}

func readReport(t *testing.T, path string) *cliReportDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r cliReportDoc
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	return &r
}

// cliReport: --report records what the sandbox applied, before the
// command runs (the command reads the file), and the result after.
func cliReport(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "report.json")
	// The command waits for the report to appear: it is written as soon
	// as the sandbox's record arrives, while the command runs.
	res := sbx(t, "", "--report", path, "--hostname", "rep", "--rlimit", "nofile=64", "--", "/bin/sh", "-c", "exit 7")
	if res.code != 7 {
		t.Fatalf("exit %d, stderr %q", res.code, res.err)
	}
	r := readReport(t, path)
	if r.Version != 1 || len(r.Command) != 3 || r.Applied == nil {
		t.Fatalf("report: %+v", r)
	}
	a := r.Applied
	if !a.NoNewPrivileges || a.Seccomp == nil || a.Seccomp.Instructions == 0 || len(a.Seccomp.Digest) != 64 {
		t.Errorf("applied: nnp %v seccomp %+v", a.NoNewPrivileges, a.Seccomp)
	}
	if a.Hostname != "rep" || a.Rlimits["RLIMIT_NOFILE"] != [2]uint64{64, 64} || a.Capabilities["effective"] != "0x0" {
		t.Errorf("applied: hostname %q rlimits %v caps %v", a.Hostname, a.Rlimits, a.Capabilities)
	}
	for _, n := range []string{"pid", "mnt", "uts", "ipc"} {
		if a.Namespaces[n] == "" || a.Namespaces[n] == ownNS(t, n) {
			t.Errorf("applied: %s namespace %q not new", n, a.Namespaces[n])
		}
		found := false
		for _, x := range r.Parent.NewNamespaces {
			found = found || x == n
		}
		if !found {
			t.Errorf("parent view: %s not among the new namespaces %v", n, r.Parent.NewNamespaces)
		}
	}
	if r.Seccomp == nil || r.Seccomp.Name != "default" || r.Seccomp.Rules == 0 || r.Parent.Pid == 0 {
		t.Errorf("seccomp profile %+v parent %+v", r.Seccomp, r.Parent)
	}
	if r.Result == nil || r.Result.ExitCode != 7 {
		t.Errorf("result: %+v", r.Result)
	}
	if r.Requested == nil || !r.Requested.NoNewPrivileges || r.Requested.Hostname != "rep" {
		t.Errorf("requested: %+v", r.Requested)
	}
	// The report exists before the command ends: the command saw it.
	res = sbx(t, "", "--report", path+"2", "--", "/bin/sh", "-c",
		fmt.Sprintf(`i=0; while [ ! -s %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; [ -s %s ] && echo seen`, path+"2", path+"2"))
	if res.code != 0 || res.out != "seen\n" {
		t.Errorf("the report was not written while the command ran: %+v", res)
	}
	// - writes it to stdout.
	res = sbx(t, "", "--report", "-", "--", "true")
	var v map[string]any
	if res.code != 0 || json.Unmarshal([]byte(res.out), &v) != nil || v["applied"] == nil {
		t.Errorf("--report -: %+v", res)
	}
}

// cliStrict: --strict runs when everything was applied and refuses
// what could only be met in part.
func cliStrict(t *testing.T) {
	path := filepath.Join(tempDir(t), "r.json")
	mustRun(t, "--strict", "--report", path, "--hostname", "s", "--rlimit", "nofile=100", "--cap-add", "CHOWN", "--", "true")
	if r := readReport(t, path); r.Strict == nil || !r.Strict.OK {
		t.Errorf("strict: %+v", r.Strict)
	}
	r := sbx(t, "", "--strict", "--landlock-best-effort", "--landlock-ro", "/", "--", "true")
	if r.code != 125 || !regexp.MustCompile(`^sandboxrun: strict: .*Landlock best effort.*\n$`).MatchString(r.err) {
		t.Errorf("strict + best effort: exit %d stderr %q", r.code, r.err)
	}
	if !root() {
		r := sbx(t, "", "--strict", "--memory", "64m", "--cgroups-best-effort", "--", "true")
		if r.code != 125 || !strings.Contains(r.err, "strict: cgroup best effort") {
			t.Errorf("strict + cgroup best effort: exit %d stderr %q", r.code, r.err)
		}
	}
}

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

// cliBundle: `sandboxrun run --bundle` runs runc spec's bundle with
// its busybox rootfs; --config does the same from the file.
func cliBundle(t *testing.T) {
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

// cliRootfs: --rootfs with --proc and --dev.
func cliRootfs(t *testing.T) {
	dir := makeBundle(t)
	out := mustRun(t, "--rootfs", filepath.Join(dir, "rootfs"), "--proc", "--dev", "--read-only", "--", "/bin/sh", "-c",
		"ls /; ls /dev; ls /proc | grep -c '^[0-9]'; echo x > /x 2>&1 || echo ro")
	for _, w := range []string{"bin\n", "null\n", "zero\n", "urandom\n", "ro\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("rootfs: want %q in %q", w, out)
		}
	}
}

// cliDoctor: doctor says what works and exits 0 where the defaults do.
func cliDoctor(t *testing.T) {
	r := sbx(t, "", "doctor")
	if r.code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, w := range []string{"user namespaces", "subordinate ids", "seccomp", "landlock", "cgroups", "root filesystem", "ok    defaults"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("doctor output lacks %q:\n%s", w, r.out)
		}
	}
	if !root() && !strings.Contains(r.out, "not delegated") {
		t.Errorf("rootless doctor should say cgroups are not delegated:\n%s", r.out)
	}
	// The i386 ABI line says what the kernel answers this process.
	i386 := "i386 ABI           available"
	if err := int80.Probe(); errors.Is(err, int80.ErrOff) {
		i386 = "i386 ABI           off in this kernel"
	} else if errors.Is(err, errors.ErrUnsupported) {
		i386 = "i386 ABI           not an x86-64 build"
	} else if err != nil {
		t.Fatalf("int80.Probe: %v", err)
	}
	if !strings.Contains(r.out, i386) {
		t.Errorf("doctor output lacks %q:\n%s", i386, r.out)
	}
	r = sbx(t, "", "doctor", "--json")
	var v struct {
		OK     bool `json:"ok"`
		Checks []struct{ Name, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || !v.OK || len(v.Checks) < 7 {
		t.Errorf("doctor --json: %v %+v", err, v)
	}
}

// cliHelpCompletionCleanup: --help has examples, completion scripts are
// generated, cleanup runs.
func cliHelpCompletionCleanup(t *testing.T) {
	out := mustRun(t, "--help")
	for _, w := range []string{"Examples:", "--unshare-net", "--rlimit", "--seccomp", "Exit status"} {
		if !strings.Contains(out, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := mustRun(t, "completion", sh); !strings.Contains(out, "sandboxrun") {
			t.Errorf("completion %s: %q", sh, out)
		}
	}
	if out := mustRun(t, "__complete", "--cap-add", "NET_B"); !strings.Contains(out, "NET_BIND_SERVICE") {
		t.Errorf("flag completion: %q", out)
	}
	if out := mustRun(t, "cleanup"); out == "" {
		t.Error("cleanup printed nothing")
	}
}
