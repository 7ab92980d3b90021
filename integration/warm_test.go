package integration

// The warm path (sandboxrun --warm, package internal/warm): a warm
// sandbox is the cold one, never shared, reached only by its own user with
// its own options and context.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/internal/warm"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("warm.dial", warmDialFromSandbox)
}

func TestWarm(t *testing.T) {
	// The caller's working directory is resolved inside the sandbox: in
	// the test's own directory, not the package directory, which may lie
	// under /tmp (a clone there), private to every sandbox.
	t.Chdir(tempDir(t))
	t.Run("SameIsolationAsCold", warmSameIsolation)
	t.Run("ExitStatusStdioEnvCwd", warmExitStatus)
	t.Run("HiddenCwd", warmHiddenCwd)
	t.Run("UnenterableCwdRunsCold", warmUnenterableCwd)
	t.Run("Signals", warmSignals)
	t.Run("DiesWithCaller", warmDiesWithCaller)
	t.Run("Refusals", warmRefusals)
	t.Run("OptionsMismatch", warmOptionsMismatch)
	t.Run("SecondUserCannotConnect", warmSecondUser)
	t.Run("CommandCannotReachPool", warmCommandCannotReachPool)
	t.Run("StaleSocket", warmStaleSocket)
	t.Run("OneServerPerPool", warmOneServer)
	t.Run("IdleAndSessionEnd", warmLifetime)
}

// warmHome is a private XDG_RUNTIME_DIR (short: socket paths stay under
// 108 bytes) whose servers are killed when t ends.
type warmHome struct {
	dir string // XDG_RUNTIME_DIR
	env []string
}

func newWarmHome(t *testing.T, extraEnv ...string) *warmHome {
	t.Helper()
	base := os.Getenv("NSFORK_TEST_TMPDIR")
	if base == "" {
		base = DefaultTestTmp
	}
	dir, err := os.MkdirTemp(base, "w")
	if err != nil {
		t.Fatal(err)
	}
	h := &warmHome{dir: dir}
	h.env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "NSFORK_WARM") || strings.HasPrefix(kv, "XDG_RUNTIME_DIR=")
	}), "XDG_RUNTIME_DIR="+dir, "NSFORK_WARM_IDLE=60s")
	h.env = append(h.env, extraEnv...)
	t.Cleanup(func() {
		for _, pid := range h.servers(t) {
			stopServer(pid)
		}
		os.RemoveAll(dir)
	})
	return h
}

// stopServer ends a pool's server as a batch system does at a job's end,
// SIGTERM, so that it removes its sandboxes' cgroups (a SIGKILLed server
// leaves its idle sandboxes' behind); SIGKILL if it has not ended within
// 10 s. It reports whether it ended on the SIGTERM.
func stopServer(pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if n, _ := unix.Poll(fds, 100); n > 0 {
			return true
		}
	}
	unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	return false
}

// TestWarmServerSignalLeavesNoCgroup: a pool's server ended by SIGTERM
// (Slurm's at a job's end) removes its idle sandboxes and their cgroups;
// before, the signal's default action left the cgroups for good (fails
// so: the server's nsfork-<pid>-* directories stay).
func TestWarmServerSignalLeavesNoCgroup(t *testing.T) {
	testreq.RootOnly(t, "the sandboxes' cgroups are made under the hierarchies' roots by a root server")
	h := newWarmHome(t)
	h.startPool(t, "--memory", "256m") // a limit: each sandbox has a cgroup
	pid := h.onlyServer(t)
	dirs := func() []string {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", fmt.Sprintf("nsfork-%d-*", pid)))
		return m
	}
	if len(dirs()) == 0 {
		t.Fatalf("the server (pid %d) has no sandbox cgroup at /sys/fs/cgroup/*/nsfork-%d-*", pid, pid)
	}
	if !stopServer(pid) {
		t.Fatal("the server did not end within 10 s of SIGTERM")
	}
	if left := dirs(); len(left) > 0 {
		t.Errorf("the server ended by SIGTERM left its sandboxes' cgroups: %v", left)
		for _, d := range left {
			os.Remove(d)
		}
	}
}

func (h *warmHome) pools() string { return filepath.Join(h.dir, "nsfork-warm") }

// servers returns the pids of the servers listening in h (by SO_PEERCRED).
func (h *warmHome) servers(t *testing.T) []int {
	socks, _ := filepath.Glob(filepath.Join(h.pools(), "*.sock"))
	var pids []int
	for _, s := range socks {
		if pid := serverPid(s); pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

func serverPid(sock string) int {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return 0
	}
	defer c.Close()
	raw, _ := c.(*net.UnixConn).SyscallConn()
	pid := 0
	raw.Control(func(fd uintptr) {
		if cr, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cr.Pid)
		}
	})
	return pid
}

// run runs sandboxrun with h's environment.
func (h *warmHome) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return sbxEnv(t, h.env, stdin, args...)
}

// startPool makes the pool of flags and waits until a launch with them
// runs warm.
func (h *warmHome) startPool(t *testing.T, flags ...string) {
	t.Helper()
	args := append(append([]string{"--warm"}, flags...), "--", "true")
	if r := h.run(t, "", args...); r.code != 0 {
		t.Fatalf("first (cold) launch %q: exit %d, stderr %q", args, r.code, r.err)
	}
	held := append(append([]string{"--warm"}, flags...), "--", "/bin/sh", "-c", "echo END; read x; true")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, wasWarm := h.held(t, held...); wasWarm {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := filepath.Glob(filepath.Join(h.pools(), "*.log"))
			var text []string
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				text = append(text, string(b[max(0, len(b)-2000):]))
			}
			t.Fatalf("no warm launch for %q; logs (ends): %q", flags, text)
		}
	}
}

// onlyServer is the pid of h's one server.
func (h *warmHome) onlyServer(t *testing.T) int {
	t.Helper()
	s := h.servers(t)
	if len(s) != 1 {
		t.Fatalf("servers %v, want one", s)
	}
	return s[0]
}

// held runs sandboxrun with args whose command prints, then "END", then
// waits for its stdin to close. While it waits, the launcher's children
// tell whether it ran warm (none: the server started the sandbox) or cold.
func (h *warmHome) held(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	out, warm, release := h.hold(t, args...)
	release()
	return out, warm
}

// hold is held that leaves the command waiting until release is called
// (at the latest when t ends): namespaces compared by their inode numbers
// must be alive together, as the kernel gives a freed one's number to the
// next namespace made.
func (h *warmHome) hold(t *testing.T, args ...string) (out string, warm bool, release func()) {
	t.Helper()
	cmd := exec.Command(sandboxrunBin(t), args...)
	cmd.Env = h.env
	in, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	br := bufio.NewReader(stdout)
	for {
		l, err := br.ReadString('\n')
		if l == "END\n" {
			break
		}
		buf.WriteString(l)
		if err != nil {
			cmd.Wait()
			t.Fatalf("sandboxrun %q: no END; output %q stderr %q", args, buf.String(), stderr.String())
		}
	}
	warm = len(childrenOf(cmd.Process.Pid)) == 0
	var once sync.Once
	release = func() {
		once.Do(func() {
			in.Close()
			io.Copy(io.Discard, br)
			if err := cmd.Wait(); err != nil {
				t.Errorf("sandboxrun %q: %v, stderr %q", args, err, stderr.String())
			}
		})
	}
	t.Cleanup(release)
	return buf.String(), warm, release
}

// warmProbe prints, section by section, what a sandbox is.
const warmProbe = `grep -E '^(Uid|Gid|Groups|Umask|NoNewPrivs|Seccomp|Seccomp_filters|CapInh|CapPrm|CapEff|CapBnd|CapAmb|SigIgn|SigBlk|Cpus_allowed_list):' /proc/self/status
echo "== maps"; cat /proc/self/uid_map /proc/self/gid_map
echo "== ns"; for n in user pid mnt uts ipc net cgroup time; do echo "$n $(readlink /proc/self/ns/$n)"; done
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== limits"; cat /proc/self/limits
echo "== cgroup"; cat /proc/self/cgroup
echo "== misc"; hostname; pwd; id; umask; ls /proc | grep -c '^[0-9]'
echo "== env"; env | grep -v -E '^(_|SHLVL|PWD|OLDPWD)=' | sort
echo END; read x; true`

type warmSnap map[string]string

func parseProbe(out string) warmSnap {
	p := warmSnap{}
	sec := "status"
	for _, l := range strings.SplitAfter(out, "\n") {
		if s, ok := strings.CutPrefix(l, "== "); ok {
			sec = strings.TrimSpace(s)
			continue
		}
		p[sec] += l
	}
	return p
}

var (
	nsfCgroup = regexp.MustCompile(`nsfork-[0-9]+-[0-9a-f]+`)
	mntLine   = regexp.MustCompile(`^\d+ \d+ (\d+):(\d+) `)
)

// normal removes from a probe what differs between two cold launches as
// well: namespace inodes (compared apart), mount ids and anonymous device
// numbers, the order /dev's nodes are bound in, the sandbox's own cgroup
// name and, for root, the host ids leased to it.
func (p warmSnap) normal(t *testing.T) warmSnap {
	n := warmSnap{}
	for k, v := range p {
		n[k] = v
	}
	delete(n, "ns")
	if root() {
		fields := strings.Fields(p["maps"])
		if len(fields) < 3 {
			t.Fatalf("no id map: %q", p["maps"])
		}
		base, _ := strconv.ParseUint(fields[1], 10, 32)
		hostIDs := regexp.MustCompile(`\b\d{6,10}\b`)
		rel := func(s string) string {
			return hostIDs.ReplaceAllStringFunc(s, func(x string) string {
				v, _ := strconv.ParseUint(x, 10, 64)
				if v >= base && v < base+65536 {
					return fmt.Sprintf("HOST+%d", v-base)
				}
				return x
			})
		}
		n["maps"], n["mountinfo"] = rel(p["maps"]), rel(p["mountinfo"])
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(n["mountinfo"]), "\n") {
		m := mntLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("mountinfo line %q", l)
		}
		dev := m[1] + ":" + m[2]
		if m[1] == "0" {
			dev = "0:anon"
		}
		lines = append(lines, dev+" "+l[len(m[0]):])
	}
	slices.Sort(lines)
	n["mountinfo"] = strings.Join(lines, "\n")
	n["cgroup"] = nsfCgroup.ReplaceAllString(n["cgroup"], "nsfork-X")
	return n
}

func nsOf(t *testing.T, p warmSnap) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(p["ns"]), "\n") {
		k, v, _ := strings.Cut(l, " ")
		m[k] = v
	}
	if len(m) < 6 {
		t.Fatalf("namespaces: %q", p["ns"])
	}
	return m
}

// warmHiddenCwd: from a directory under the host's /tmp, which the view
// makes private, a warm launch runs where a cold one does and sees what
// the cold one sees (the directory read-only, bound with the same flags,
// nothing above it: TestDefaultViewWorkingDirectory); before, every warm
// launch from there failed (exit 125, "cwd: chdir"). The pool is that
// directory's: a launch from another directory, or from a directory made
// anew at the same path, does not get its sandboxes.
func warmHiddenCwd(t *testing.T) {
	h := newWarmHome(t)
	base := hiddenCwd(t)
	cwd := base + "/a/b"
	t.Chdir(cwd)
	h.startPool(t)
	// The working directory's mount: its root, mount point and options.
	probe := cwdProbe + `; echo =; awk -v d="$PWD" '$5 == d {print $4, $5, $6}' /proc/self/mountinfo; echo END; read x; true`
	cold, wasWarm := h.held(t, "--", "/bin/sh", "-c", probe)
	if wasWarm {
		t.Fatal("the cold launch ran without a child")
	}
	want := cwd + "\nmine\n=\nb\n=\na\n=\nb\n=\nRead-only file system\n=\n"
	if !strings.HasPrefix(cold, want) || !regexp.MustCompile(`(?m)^/\S* `+regexp.QuoteMeta(cwd)+` ro,`).MatchString(cold[len(want):]) {
		t.Fatalf("cold from %s: %q; want %q, then the directory bound read-only", cwd, cold, want)
	}
	for range 2 {
		w, wasWarm := h.held(t, "--warm", "--", "/bin/sh", "-c", probe)
		if !wasWarm {
			t.Fatal("the warm launch started a sandbox itself")
		}
		if w != cold {
			t.Errorf("warm from %s: %q; cold: %q", cwd, w, cold)
		}
	}
	pwd := "pwd; echo END; read x; true"
	t.Chdir(base + "/a")
	if out, wasWarm := h.held(t, "--warm", "--", "/bin/sh", "-c", pwd); wasWarm || out != base+"/a\n" {
		t.Errorf("from %s/a: %q, warm %v; want a cold launch there (a pool of its own)", base, out, wasWarm)
	}
	if err := os.Rename(cwd, cwd+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	if out, wasWarm := h.held(t, "--warm", "--", "/bin/sh", "-c", "ls; "+pwd); wasWarm || out != cwd+"\n" {
		t.Errorf("from %s made anew: %q, warm %v; want a cold launch in the new, empty directory", cwd, out, wasWarm)
	}
}

// warmUnenterableCwd: where a pool's sandbox, made before the command,
// cannot enter the caller's working directory by its path although a cold
// one keeps it (here: as root, --uid 1000 in a directory of uid 1000's
// that others may search but its owner may not), the launch runs cold,
// exactly as without --warm; before, it failed (exit 125, "cwd: chdir").
func warmUnenterableCwd(t *testing.T) {
	testreq.RootOnly(t, "a directory of another user's")
	h := newWarmHome(t)
	dir := filepath.Join(tempDir(t), "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o601); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	flags := []string{"--uid", "1000", "--gid", "1000"}
	args := append(append([]string{"--warm"}, flags...), "--", "/bin/sh", "-c", "id -u; pwd; echo END; read x; true")
	for i := range 3 {
		out, wasWarm := h.held(t, args...)
		if out != "1000\n"+dir+"\n" || wasWarm {
			t.Errorf("launch %d: %q, warm %v; want a cold launch in %s", i, out, wasWarm, dir)
		}
		if i == 0 {
			// Now the pool exists: the next launches reach it first.
			for deadline := time.Now().Add(30 * time.Second); len(h.servers(t)) == 0; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no server started")
				}
			}
		}
	}
}

// warmSameIsolationAsCold: for the defaults, the benchmark's options and
// a cgroup limit, a warm sandbox's status (ids, capabilities, no_new_privs,
// seccomp), id maps, mounts, rlimits, cgroup, host name, working directory
// and environment are a cold one's, and its namespaces are its own: not
// the host's, not a cold sandbox's, not another warm one's.
func warmSameIsolation(t *testing.T) {
	h := newWarmHome(t)
	limits := []string{"--hostname", "box", "--rlimit", "nofile=512"}
	if root() {
		// A cgroup of the sandbox's own (rootless, this machine's
		// cgroups are not delegated: cgroup_test.go covers that).
		limits = append(limits, "--memory", "256m")
	}
	for _, flags := range [][]string{
		nil,
		{"--unshare-net", "--read-only", "--proc", "--dev", "--tmpfs", "/mnt"},
		limits,
	} {
		h.startPool(t, flags...)
		args := append(slices.Clone(flags), "--", "/bin/sh", "-c", warmProbe)
		warmArgs := append([]string{"--warm"}, args...)
		// Cold, warm, warm, cold: the host's own mounts, which the view
		// shows, may change meanwhile (other work on the machine); then
		// the round is taken again.
		var cold, w, w2 warmSnap
		// All four stay alive until their namespaces are compared.
		var releases []func()
		releaseAll := func() {
			for _, r := range releases {
				r()
			}
			releases = nil
		}
		for attempt := 1; ; attempt++ {
			var seen []string // the host's mount points before and after each launch
			held := func(a ...string) (string, bool) {
				seen = append(seen, fmt.Sprint(hostMounts(t)))
				out, warm, release := h.hold(t, a...)
				releases = append(releases, release)
				return out, warm
			}
			coldOut, wasWarm := held(args...)
			if wasWarm {
				t.Fatalf("%q: the cold launch ran without a child", flags)
			}
			warmOut, wasWarm := held(warmArgs...)
			if !wasWarm {
				t.Fatalf("%q: the warm launch started a sandbox itself", flags)
			}
			warm2Out, wasWarm2 := held(warmArgs...)
			if !wasWarm2 {
				t.Fatalf("%q: the second warm launch started a sandbox itself", flags)
			}
			cold2Out, _ := held(args...)
			seen = append(seen, fmt.Sprint(hostMounts(t)))
			var cold2 warmSnap
			cold, cold2, w, w2 = parseProbe(coldOut), parseProbe(cold2Out), parseProbe(warmOut), parseProbe(warm2Out)
			a, b := cold.normal(t), cold2.normal(t)
			stable := !slices.ContainsFunc(seen, func(x string) bool { return x != seen[0] })
			if stable && fmt.Sprint(a) == fmt.Sprint(b) {
				break
			}
			if attempt == 8 {
				t.Fatalf("%q: two cold launches differ beyond what the test removes, or the host's mounts kept changing, 8 times:\n%v\n----\n%v", flags, a, b)
			}
			t.Logf("%q: the host's mounts changed during the round (host stable: %v): again", flags, stable)
			releaseAll()
		}
		cn, wn := cold.normal(t), w.normal(t)
		for k := range cn {
			if cn[k] != wn[k] {
				t.Errorf("%q: %s differs:\ncold:\n%s\nwarm:\n%s", flags, k, cn[k], wn[k])
			}
		}
		for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"} {
			if !strings.Contains(w["status"], want) {
				t.Errorf("%q: warm status lacks %q:\n%s", flags, want, w["status"])
			}
		}
		cns, wns, w2ns := nsOf(t, cold), nsOf(t, w), nsOf(t, w2)
		for _, n := range []string{"user", "pid", "mnt", "uts", "ipc"} {
			host := ownNS(t, n)
			if wns[n] == host || wns[n] == cns[n] || wns[n] == w2ns[n] || cns[n] == host {
				t.Errorf("%q: %s namespace: host %s cold %s warm %s warm again %s: want each its own", flags, n, host, cns[n], wns[n], w2ns[n])
			}
		}
		releaseAll()
	}
}

// warmExitStatus: exit codes, death by a signal, a missing command, stdio,
// environment and working directory are a cold launch's.
func warmExitStatus(t *testing.T) {
	h := newWarmHome(t, "WARM_TEST_VAR=a b")
	h.startPool(t)
	for _, c := range []struct {
		args []string
		in   string
	}{
		{[]string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, ""},
		{[]string{"/bin/sh", "-c", "kill -TERM $$"}, ""},
		{[]string{"/bin/sh", "-c", "kill -KILL $$"}, ""},
		{[]string{"/bin/sh", "-c", "cat; echo \"[$WARM_TEST_VAR]\"; pwd"}, "from stdin\n"},
		{[]string{"/nonexistent/cmd"}, ""},
		{[]string{"/etc/passwd"}, ""},
		// Launcher flags that are no sandbox option: the same pool.
		{[]string{"--timeout", "300ms", "--", "sleep", "30"}, ""},
		{[]string{"--timeout", "300ms", "--kill-after", "200ms", "--", "/bin/sh", "-c", "trap '' TERM; sleep 30"}, ""},
	} {
		args := c.args
		if !slices.Contains(args, "--") {
			args = append([]string{"--"}, args...)
		}
		cold := h.run(t, c.in, args...)
		wr := h.run(t, c.in, append([]string{"--warm"}, args...)...)
		if cold != wr {
			t.Errorf("%q: cold %+v, warm %+v", c.args, cold, wr)
		}
	}
	if r := h.run(t, "x\n", "--warm", "--", "/bin/sh", "-c", "cat; echo \"[$WARM_TEST_VAR]\""); r.out != "x\n[a b]\n" {
		t.Errorf("stdin and environment: %+v", r)
	}
}

// warmDiesWithCaller: a warm command dies with its sandboxrun, as a cold
// one does (the server kills the sandbox when the connection ends).
func warmDiesWithCaller(t *testing.T) {
	h := newWarmHome(t)
	h.startPool(t)
	mark := fmt.Sprintf("%d", 31000+os.Getpid()%1000)
	cmd := exec.Command(sandboxrunBin(t), "--warm", "--", "/bin/sh", "-c", "echo ready; exec sleep "+mark)
	cmd.Env = h.env
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("got %q", l)
	}
	sleeping := func() []int {
		var pids []int
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			b, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
			if err == nil && string(b) == "sleep\x00"+mark+"\x00" {
				n, _ := strconv.Atoi(p.Name())
				pids = append(pids, n)
			}
		}
		return pids
	}
	pids := sleeping()
	for deadline := time.Now().Add(10 * time.Second); len(pids) == 0 && time.Now().Before(deadline); pids = sleeping() {
		time.Sleep(10 * time.Millisecond) // the shell's exec may not have happened yet
	}
	if len(pids) != 1 {
		t.Fatalf("sleep %s: pids %v", mark, pids)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, pids[0], 10*time.Second, "after its sandboxrun was killed")
}

// warmSignals: the signals sandboxrun forwards reach a warm command, and
// its trap's exit status comes back.
func warmSignals(t *testing.T) {
	h := newWarmHome(t)
	h.startPool(t)
	bin := sandboxrunBin(t)
	checkSignalForwarding(t, "--warm", []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH},
		func(script string) *exec.Cmd {
			cmd := exec.Command(bin, "--warm", "--", "/bin/sh", "-c", script)
			cmd.Env = h.env
			return cmd
		},
		func(name string, cmd *exec.Cmd) {
			if kids := childrenOf(cmd.Process.Pid); len(kids) != 0 {
				t.Errorf("%s: the launch was cold (children %v)", name, kids)
			}
		})
}

// warmRefusals: what the warm path cannot give as a cold launch gives it is
// refused before anything starts.
func warmRefusals(t *testing.T) {
	h := newWarmHome(t)
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--warm", "--share-ns", "job1", "--", "true"}, "--share-ns"},
		{nil, []string{"--warm", "--report", "-", "--", "true"}, "--report"},
		{nil, []string{"--warm", "--strict", "--", "true"}, "--strict"},
		{nil, []string{"--warm", "--share", "pid", "--", "true"}, "pid namespace"},
		{nil, []string{"--warm", "--die-with-parent=false", "--", "true"}, "--die-with-parent"},
		{[]string{"NSFORK_WARM=maybe"}, []string{"--", "true"}, "NSFORK_WARM"},
		{[]string{"NSFORK_WARM=1", "NSFORK_WARM_SIZE=0"}, []string{"--", "true"}, "NSFORK_WARM_SIZE"},
		{[]string{"NSFORK_WARM=1", "NSFORK_WARM_IDLE=-1s"}, []string{"--", "true"}, "NSFORK_WARM_IDLE"},
	} {
		hc := *h
		hc.env = append(slices.Clone(h.env), c.env...)
		r := hc.run(t, "", c.args...)
		if r.code != 125 || !strings.Contains(r.err, c.want) {
			t.Errorf("%v %q: exit %d stderr %q, want 125 naming %s", c.env, c.args, r.code, r.err, c.want)
		}
	}
	if socks, _ := filepath.Glob(filepath.Join(h.pools(), "*.sock")); len(socks) != 0 {
		t.Errorf("a refused launch started a pool: %v", socks)
	}
}

// warmOptionsMismatch: a launch with other options gets a sandbox made for
// its own options, never one of another pool; a request whose options are
// not the pool's is refused by the server itself, and nothing runs.
func warmOptionsMismatch(t *testing.T) {
	h := newWarmHome(t)
	h.startPool(t, "--hostname", "aaa")
	h.startPool(t, "--hostname", "bbb")
	for _, name := range []string{"aaa", "bbb", "aaa"} {
		out, wasWarm := h.held(t, "--warm", "--hostname", name, "--", "/bin/sh", "-c", "hostname; echo END; read x; true")
		if !wasWarm || out != name+"\n" {
			t.Errorf("--hostname %s: warm %v, hostname %q", name, wasWarm, out)
		}
	}
	socks, _ := filepath.Glob(filepath.Join(h.pools(), "*.sock"))
	if len(socks) != 2 {
		t.Fatalf("sockets %v, want one per option set", socks)
	}
	for _, bad := range []string{`{"hostname":"aaa"}`, `{}`} {
		c, err := warm.Dial(socks[0])
		if err != nil {
			t.Fatal(err)
		}
		r, w, _ := os.Pipe()
		_, err = c.Start(&warm.Request{Options: []byte(bad), Argv: []string{"/bin/sh", "-c", "echo ran"}}, os.Stdin, w, os.Stderr)
		w.Close()
		got, _ := io.ReadAll(r)
		r.Close()
		c.Close()
		var re *warm.RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "options differ") || len(got) != 0 {
			t.Errorf("options %s: err %v, output %q; want a refusal and nothing run", bad, err, got)
		}
	}
}

// warmSecondUser: another user reaches no pool: the directory is the
// user's, 0700; and a connection that gets through anyway (here: a thread
// whose file-system uid is root's but whose effective uid is 65534, which
// SO_PEERCRED reports) is closed unanswered.
func warmSecondUser(t *testing.T) {
	testreq.RootOnly(t, "acting as a second user")
	h := newWarmHome(t)
	h.startPool(t)
	var st unix.Stat_t
	if err := unix.Lstat(h.pools(), &st); err != nil || st.Uid != 0 || st.Mode&0o777 != 0o700 {
		t.Fatalf("pool directory: %v uid %d mode %o, want root's, 0700", err, st.Uid, st.Mode&0o777)
	}
	socks, _ := filepath.Glob(filepath.Join(h.pools(), "*.sock"))
	if len(socks) != 1 {
		t.Fatalf("sockets %v", socks)
	}
	probe := exec.Command("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--",
		"/bin/sh", "-c", "cat "+socks[0]+" 2>&1; ls "+h.pools()+" 2>&1")
	out, _ := probe.CombinedOutput()
	if !strings.Contains(string(out), "Permission denied") || strings.Contains(string(out), ".sock\n") {
		t.Errorf("uid 65534 in the pool directory: %q, want permission denied", out)
	}

	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's ids changed
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 65534, ^uintptr(0)); e != 0 {
			done <- e
			return
		}
		unix.RawSyscall(unix.SYS_SETFSUID, 0, 0, 0)
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Connect(fd, &unix.SockaddrUnix{Name: socks[0]})
		}
		if err == nil {
			unix.Write(fd, []byte("\x00\x00\x00\x02{}"))
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10})
			var b [64]byte
			n, rerr := unix.Read(fd, b[:])
			if n > 0 || (rerr != nil && rerr != unix.ECONNRESET) {
				err = fmt.Errorf("the server answered uid 65534: %q %v", b[:max(n, 0)], rerr)
			}
			unix.Close(fd)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(h.pools(), "*.log"))
	b, _ := os.ReadFile(logs[0])
	if !strings.Contains(string(b), "a connection of uid 65534") {
		t.Errorf("server log %q: no refusal of uid 65534", b)
	}
}

// warmDialFromSandbox connects from inside a sandbox to a pool's socket
// with the pool's own options, and reports what the server said.
func warmDialFromSandbox(sock string, canonical []byte) string {
	c, err := warm.Dial(sock)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	_, err = c.Start(&warm.Request{Options: canonical, Argv: []string{"true"}}, null, null, null)
	if err == nil {
		return "started"
	}
	return err.Error()
}

// warmCommandCannotReachPool: a command in a sandbox (of the caller's own
// uid, and seeing the socket) that connects to a pool with the pool's very
// options is refused: its context is not the caller's. The pool's server
// here runs in this test process, and serves this process.
func warmCommandCannotReachPool(t *testing.T) {
	h := newWarmHome(t)
	sb := sandbox.Rootless()
	sb.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	sb.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	opts := sandbox.Default()
	canon, err := warm.Canonical(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.dir, "p")
	os.Mkdir(dir, 0o700)
	srv := &warm.Server{Options: opts, Canonical: canon, Dir: dir, Size: 1, Idle: time.Minute,
		Outcome: func(err error, st *os.ProcessState) (int, string) {
			if err != nil {
				return 1, err.Error()
			}
			return 0, ""
		}}
	served := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		<-served
	}()
	go func() { served <- srv.Serve(ctx) }()
	ctxKey, err := warm.CallerContext(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	paths, err := warm.PathsFor(dir, warm.Key(canon, ctxKey))
	if err != nil {
		t.Fatal(err)
	}
	waitListening(t, paths.Socket)
	// This process gets a sandbox from it.
	c, err := warm.Dial(paths.Socket)
	if err != nil {
		t.Fatal(err)
	}
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer null.Close()
	if _, err := c.Start(&warm.Request{Options: canon, Argv: []string{"/bin/sh", "-c", "exit 7"}}, null, null, null); err != nil {
		t.Fatal(err)
	}
	if code, msg, err := c.Wait(); err != nil || code != 1 || !strings.Contains(msg, "exit") {
		t.Errorf("own request: code %d msg %q err %v, want the command's exit 7 through Outcome", code, msg, err)
	}
	c.Close()

	// A sandbox of this uid (uid 0 inside mapped to this process's uid,
	// so that the 0700 directory is open to it) is refused.
	p, err := new(fork.Config).Start(context.Background(), "warm.dial", sb, paths.Socket, canon)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	got := p.Results()[0].(string)
	if !strings.Contains(got, "context") {
		t.Errorf("a sandboxed caller with the pool's options: %q, want a refusal naming the context", got)
	}
	select {
	case err := <-served:
		t.Fatalf("the server ended: %v", err)
	default:
	}
}

// warmStaleSocket: a server killed outright leaves its socket; the next
// launch runs cold and starts a server, which replaces the socket, and the
// one after runs warm.
func warmStaleSocket(t *testing.T) {
	h := newWarmHome(t)
	h.startPool(t)
	old := h.onlyServer(t)
	socks, _ := filepath.Glob(filepath.Join(h.pools(), "*.sock"))
	syscall.Kill(old, syscall.SIGKILL)
	for warmAlive(old) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Lstat(socks[0]); err != nil {
		t.Fatalf("the killed server's socket is gone already (%v): nothing to test", err)
	}
	// A child the server was starting at that instant holds a copy of
	// the listening socket until its parent-death signal ends it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := warm.Dial(socks[0])
		if errors.Is(err, warm.ErrNoServer) {
			break
		}
		if c != nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial of a dead server's socket: %v, want ErrNoServer", err)
		}
	}
	h.startPool(t)
	if fresh := h.onlyServer(t); fresh == old {
		t.Fatal("same server")
	}
	if _, wasWarm := h.held(t, "--warm", "--", "/bin/sh", "-c", "echo END; read x; true"); !wasWarm {
		t.Error("no warm launch after the stale socket was replaced")
	}
}

// warmAlive: pid runs (a zombie does not).
func warmAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	return len(f) > 0 && f[0] != "Z"
}

// warmOneServer: a second server for a pool that is served gives up, and
// leaves the first one's socket alone; a non-socket at the socket's path
// is never replaced.
func warmOneServer(t *testing.T) {
	h := newWarmHome(t)
	dir := filepath.Join(h.dir, "q")
	os.Mkdir(dir, 0o700)
	opts := sandbox.Default()
	canon, _ := warm.Canonical(opts)
	ctxKey, _ := warm.CallerContext(os.Getpid())
	paths, _ := warm.PathsFor(dir, warm.Key(canon, ctxKey))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- (&warm.Server{Options: opts, Canonical: canon, Dir: dir, Size: 1, Idle: time.Minute}).Serve(ctx)
	}()
	waitListening(t, paths.Socket)
	first := serverPid(paths.Socket)
	var st unix.Stat_t
	unix.Lstat(paths.Socket, &st)
	second := &warm.Server{Options: opts, Canonical: canon, Dir: dir, Size: 1, Idle: time.Minute}
	if err := second.Serve(context.Background()); !errors.Is(err, warm.ErrServing) {
		t.Errorf("a second server: %v, want ErrServing", err)
	}
	var now unix.Stat_t
	if err := unix.Lstat(paths.Socket, &now); err != nil || now.Ino != st.Ino || serverPid(paths.Socket) != first {
		t.Errorf("the first server's socket was touched: %v", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("first server: %v", err)
	}
	if _, err := os.Lstat(paths.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after the server ended: %v", err)
	}

	// A file where the socket would go.
	if err := os.WriteFile(paths.Socket, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &warm.Server{Options: opts, Canonical: canon, Dir: dir, Size: 1, Idle: time.Second}
	if err := srv.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Serve over a file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(paths.Socket); string(b) != "keep" {
		t.Error("the file was replaced")
	}
}

func waitListening(t *testing.T, sock string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); serverPid(sock) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no server on %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// warmLifetime: a pool ends after its idle timeout, and with the session
// it serves, its sandboxes with it.
func warmLifetime(t *testing.T) {
	h := newWarmHome(t, "NSFORK_WARM_IDLE=1s")
	h.startPool(t)
	pid := h.onlyServer(t)
	kids := childrenOf(pid)
	if len(kids) == 0 {
		t.Fatal("the server keeps no sandbox")
	}
	waitGone(t, pid, 20*time.Second, "after its idle timeout")
	for _, k := range kids {
		n, _ := strconv.Atoi(strings.Fields(k)[0])
		waitGone(t, n, 10*time.Second, "(a pooled sandbox) after its server")
	}
	if socks, _ := filepath.Glob(filepath.Join(h.pools(), "*.sock")); len(socks) != 0 {
		t.Errorf("sockets left: %v", socks)
	}

	// A session of its own, whose leader (sh) ends after the first launch,
	// once the test has seen the server (until then the leader waits, so
	// a server that ends with it cannot come and go between two looks).
	hs := newWarmHome(t)
	seen := filepath.Join(tempDir(t), "seen")
	cmd := exec.Command("/bin/sh", "-c", `"$0" --warm -- true; for i in $(seq 600); do [ -e "$1" ] && break; sleep 0.05; done`, sandboxrunBin(t), seen)
	cmd.Env = hs.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var server int
	for deadline := time.Now().Add(20 * time.Second); server == 0 && time.Now().Before(deadline); {
		if s := hs.servers(t); len(s) > 0 {
			server = s[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(seen, nil, 0o644)
	cmd.Wait()
	if server == 0 {
		t.Fatal("no server in the new session")
	}
	waitGone(t, server, 10*time.Second, "after its session's leader (idle timeout 60s)")
}

func waitGone(t *testing.T, pid int, d time.Duration, what string) {
	t.Helper()
	for deadline := time.Now().Add(d); warmAlive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs %s", pid, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
