package integration

// sandboxrun --share-ns: ranks of one job in one shared set of user, pid,
// mount and ipc namespaces, served by a holder (package jobns).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type shareEnv struct {
	bin string
	xdg string // XDG_RUNTIME_DIR: the sockets are in xdg/nsfork-jobns
	dir string // world-readable scratch directory

	ppOnce sync.Once
	pp     string // the MPI ping-pong, built by pingpong
	ppErr  error
}

// pingpong builds the MPI ping-pong (testdata/mpi/pingpong.c) once, into
// the scratch directory.
func (e *shareEnv) pingpong(t *testing.T) string {
	t.Helper()
	e.ppOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		e.pp = filepath.Join(e.dir, "pingpong")
		cc := exec.Command("mpicc", "-O2", "-o", e.pp, filepath.Join(filepath.Dir(file), "testdata", "mpi", "pingpong.c"))
		cc.Env = append(os.Environ(), "TMPDIR="+e.dir)
		if out, err := cc.CombinedOutput(); err != nil {
			e.ppErr = fmt.Errorf("mpicc: %v %s", err, out)
		}
	})
	if e.ppErr != nil {
		t.Fatal(e.ppErr)
	}
	return e.pp
}

var (
	shareOnce sync.Once
	shareE    *shareEnv
	shareWhy  string // why this host cannot run a sandbox ("" if it can)
)

// shareSetup returns the scratch directory, runtime directory and
// sandboxrun the --share-ns tests share (removed once every test has run),
// and fails or skips the test when this host cannot run a sandbox at all.
func shareSetup(t *testing.T) *shareEnv {
	t.Helper()
	shareOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nsfork-share-")
		if err != nil {
			shareWhy = err.Error()
			return
		}
		os.Chmod(dir, 0o755)
		atExit(func() { os.RemoveAll(dir) })
		e := &shareEnv{dir: dir, xdg: filepath.Join(dir, "xdg")}
		if err := os.Mkdir(e.xdg, 0o700); err != nil {
			shareWhy = err.Error()
			return
		}
		if e.bin, err = sandboxrunIn(dir); err != nil {
			shareWhy = "cannot build sandboxrun: " + err.Error()
			return
		}
		shareE = e
	})
	if shareE == nil {
		t.Fatal(shareWhy)
	}
	// Can this host run a sandbox at all?
	if r := shareE.run(t, nil, "--", "true"); r.code != 0 {
		require(t, false, "sandboxrun -- true fails here: "+r.err)
	}
	return shareE
}

// shareJob names a job of this test binary's own.
func shareJob(suffix string) string { return fmt.Sprintf("it%d-%s", os.Getpid(), suffix) }

func (e *shareEnv) cmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, e.bin, args...)
	c.Env = append(append(os.Environ(), "XDG_RUNTIME_DIR="+e.xdg), env...)
	c.Dir = e.dir
	return c
}

func (e *shareEnv) sock(name string) string {
	return filepath.Join(e.xdg, "nsfork-jobns", name+".sock")
}

type shareRun struct {
	out, err string
	code     int
}

func (e *shareEnv) run(t *testing.T, env []string, args ...string) shareRun {
	t.Helper()
	return runTimed(t, 60*time.Second, func(ctx context.Context) *exec.Cmd { return e.cmd(ctx, env, args...) }, args)
}

// runTimed runs the command mk makes, with a timeout, and returns its
// output and exit code; a start failure or the timeout fails the test.
func runTimed(t *testing.T, d time.Duration, mk func(context.Context) *exec.Cmd, argv []string) shareRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := mk(ctx)
	var o, er bytes.Buffer
	c.Stdout, c.Stderr = &o, &er
	err := c.Run()
	r := shareRun{o.String(), er.String(), 0}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%q: timed out; stdout %q stderr %q", argv, r.out, r.err)
	}
	return r
}

// pgrepCount counts host processes whose command line contains marker.
func pgrepCount(marker string) int {
	out, _ := exec.Command("pgrep", "-f", "-c", marker).Output()
	var n int
	fmt.Sscan(strings.TrimSpace(string(out)), &n)
	return n
}

func waitUntil(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// lineWriter is a goroutine-safe buffer that can wait for a line.
type lineWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestShareNSNamespaces(t *testing.T) { shareNamespaces(t, shareSetup(t), shareJob("ns")) }

func TestShareNSExitAndSignals(t *testing.T) {
	shareExitSignals(t, shareSetup(t), shareJob("sig"))
}

func TestShareNSCallerKilled(t *testing.T) {
	shareCallerKilled(t, shareSetup(t), shareJob("kill"))
}

func TestShareNSOptionsRefused(t *testing.T) { shareRefused(t, shareSetup(t), shareJob("opt")) }

// The scan is shell builtins only: no process but the rank itself has the
// other rank's marker in its argv.
const shareScript = `for n in user pid mnt ipc; do echo "ns $n $(readlink /proc/self/ns/$n)"; done
sleep 1
for f in /proc/[0-9]*/cmdline; do l=$(tr '\0' ' ' < $f 2>/dev/null); case "$l" in *"$OTHER"*) echo "seen other";; esac; done
sleep 0.5`

func shareNamespaces(t *testing.T, e *shareEnv, name string) {
	host := map[string]string{}
	for _, n := range []string{"user", "pid", "mnt", "ipc"} {
		host[n] = ownNS(t, n)
	}
	markA, markB := "mark-a-"+name, "mark-b-"+name
	var wg sync.WaitGroup
	res := make([]shareRun, 2)
	for i, m := range [][2]string{{markA, markB}, {markB, markA}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = e.run(t, []string{"OTHER=" + m[1]}, "--share-ns", name, "--", "/bin/sh", "-c", shareScript, "sh", m[0])
		}()
	}
	wg.Wait()
	nsOf := func(out string) string {
		var ns []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "ns ") {
				ns = append(ns, l)
			}
		}
		return strings.Join(ns, "\n")
	}
	for i, r := range res {
		if r.code != 0 {
			t.Fatalf("rank %d: exit %d, stderr %q", i, r.code, r.err)
		}
		if !strings.Contains(r.out, "seen other") {
			t.Errorf("rank %d does not see the other rank in its /proc: %q", i, r.out)
		}
		for _, l := range strings.Split(nsOf(r.out), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && f[2] == host[f[1]] {
				t.Errorf("rank %d: %s namespace is the host's (%s)", i, f[1], f[2])
			}
		}
	}
	if a, b := nsOf(res[0].out), nsOf(res[1].out); a != b || strings.Count(a, "\n") != 3 {
		t.Errorf("the ranks' namespaces differ or are missing:\n%s\n--\n%s", a, b)
	}
	// The holder leaves after the last rank and the grace period.
	if !waitUntil(6*time.Second, func() bool { return pgrepCount("nsfork-jobns-holder "+name) == 0 }) {
		t.Errorf("the holder of %s is still running", name)
	}
	// It removes its socket; as root it runs as a leased unprivileged uid
	// that cannot write root's rendezvous directory, and the socket stays,
	// refusing connections, until the next caller replaces it.
	if _, err := os.Lstat(e.sock(name)); err == nil && !(root() && connRefused(e.sock(name))) {
		t.Errorf("%s still exists after the last rank, and is not stale", e.sock(name))
	}
}

// connRefused reports whether connecting to the unix socket sock is
// refused: nobody listens.
func connRefused(sock string) bool {
	c, err := net.Dial("unix", sock)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func shareExitSignals(t *testing.T, e *shareEnv, name string) {
	if r := e.run(t, nil, "--share-ns", name, "--", "/bin/sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exit 7: got %d, stderr %q", r.code, r.err)
	}
	if r := e.run(t, nil, "--share-ns", name, "--", "nsfork-no-such-cmd"); r.code != 127 || !strings.Contains(r.err, "find command nsfork-no-such-cmd") {
		t.Errorf("missing command: exit %d, stderr %q; want 127 and the step", r.code, r.err)
	}
	for _, c := range []struct {
		script string
		want   int
		out    string
	}{
		{`trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`, 42, "got-term"},
		{`echo ready; exec sleep 30`, 143, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := e.cmd(ctx, nil, "--share-ns", name, "--", "/bin/sh", "-c", c.script)
		var out lineWriter
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !waitUntil(10*time.Second, func() bool { return strings.Contains(out.String(), "ready") }) {
			t.Fatalf("rank never ready: %q", out.String())
		}
		time.Sleep(100 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		cancel()
		if got := cmd.ProcessState.ExitCode(); got != c.want || !strings.Contains(out.String(), c.out) {
			t.Errorf("SIGTERM to sandboxrun running %q: exit %d, out %q; want %d and %q", c.script, got, out.String(), c.want, c.out)
		}
	}
}

func shareCallerKilled(t *testing.T, e *shareEnv, name string) {
	marker := "nsfork-orphan-" + name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := e.cmd(ctx, nil, "--share-ns", name, "--", "/bin/sh", "-c", "echo up; sleep 1000; : "+marker)
	var out lineWriter
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(10*time.Second, func() bool { return strings.Contains(out.String(), "up") }) {
		t.Fatalf("rank never up: %q", out.String())
	}
	if n := pgrepCount(marker); n < 2 {
		t.Fatalf("pgrep -f %s: %d processes, want sandboxrun and its rank", marker, n)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !waitUntil(5*time.Second, func() bool { return pgrepCount(marker) == 0 }) {
		out, _ := exec.Command("pgrep", "-a", "-f", marker).Output()
		t.Errorf("the rank survived its SIGKILLed caller: %s", out)
	}
}

func shareRefused(t *testing.T, e *shareEnv, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keep := e.cmd(ctx, nil, "--share-ns", name, "--", "/bin/sh", "-c", "echo up; sleep 30")
	var out lineWriter
	keep.Stdout = &out
	if err := keep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { keep.Process.Signal(syscall.SIGTERM); keep.Wait() }()
	if !waitUntil(10*time.Second, func() bool { return strings.Contains(out.String(), "up") }) {
		t.Fatalf("keeper never up: %q", out.String())
	}
	r := e.run(t, nil, "--share-ns", name, "--rlimit", "nofile=64", "--", "true")
	if r.code != 125 || !strings.Contains(r.err, "options differ") {
		t.Errorf("a joiner with other options: exit %d, stderr %q; want 125 and 'options differ'", r.code, r.err)
	}
	// The rank's own environment is not part of the job's options.
	if r := e.run(t, nil, "--share-ns", name, "--env", "FOO=bar", "--", "/bin/sh", "-c", `test "$FOO" = bar`); r.code != 0 {
		t.Errorf("--env on a joiner: exit %d, stderr %q", r.code, r.err)
	}
	for _, bad := range [][]string{{"--share", "pid"}, {"--report", "-"}, {"--memory", "64m"}} {
		args := append(append([]string{"--share-ns", name}, bad...), "--", "true")
		if r := e.run(t, nil, args...); r.code != 125 || !strings.Contains(r.err, "share-ns") {
			t.Errorf("%q: exit %d, stderr %q; want a refusal", bad, r.code, r.err)
		}
	}
	if r := e.run(t, nil, "--share-ns", "a/b", "--", "true"); r.code != 125 {
		t.Errorf("bad name: exit %d", r.code)
	}
}
