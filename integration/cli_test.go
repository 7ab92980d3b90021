package integration

// End-to-end tests of the sandboxrun binary, built once per test binary.
// Every effect is checked from inside the sandbox, with the tools the
// command itself would use.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/sandbox"
)

type cliResult struct {
	out, err string
	code     int
}

// sbx runs sandboxrun with args and stdin, with a deadline.
func sbx(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return sbxEnv(t, nil, stdin, args...)
}

// sbxEnv is sbx with the environment env (nil: this process's).
func sbxEnv(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	bin := sandboxrunBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
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

// TestCLIDefaults: a bare `sandboxrun -- CMD` runs CMD as root inside new
// namespaces with no capabilities, no_new_privs and a seccomp filter.
func TestCLIDefaults(t *testing.T) {
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

// TestCLISeccompDefaultBlocks: Docker's profile forbids unshare(2)
// without CAP_SYS_ADMIN; unconfined lets the same call through.
func TestCLISeccompDefaultBlocks(t *testing.T) {
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

func TestCLIFlagEffects(t *testing.T) {
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

// TestCLILandlock: paths outside the Landlock lists cannot be read.
func TestCLILandlock(t *testing.T) {
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
