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
	"strconv"
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

func shareSetup(t *testing.T) *shareEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsfork-share-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &shareEnv{dir: dir, xdg: filepath.Join(dir, "xdg")}
	if err := os.Mkdir(e.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("NSFORK_SANDBOXRUN"); p != "" {
		e.bin = p
	} else {
		saved := cliDir
		bin, err := buildSandboxrun()
		if err == nil {
			e.bin = filepath.Join(dir, "sandboxrun")
			err = os.Rename(bin, e.bin)
			os.RemoveAll(cliDir)
		}
		cliDir = saved
		if err != nil {
			require(t, false, "cannot build sandboxrun: "+err.Error())
		}
	}
	return e
}

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

func TestShareNS(t *testing.T) {
	e := shareSetup(t)
	// Can this host run a sandbox at all?
	if r := e.run(t, nil, "--", "true"); r.code != 0 {
		require(t, false, "sandboxrun -- true fails here: "+r.err)
	}
	base := fmt.Sprintf("it%d", os.Getpid())
	t.Run("SharedNamespaces", func(t *testing.T) { shareNamespaces(t, e, base+"-ns") })
	t.Run("ExitAndSignals", func(t *testing.T) { shareExitSignals(t, e, base+"-sig") })
	t.Run("CallerKilled", func(t *testing.T) { shareCallerKilled(t, e, base+"-kill") })
	t.Run("OptionsRefused", func(t *testing.T) { shareRefused(t, e, base+"-opt") })
	t.Run("Latency", func(t *testing.T) { shareLatency(t, e, base+"-lat") })
	t.Run("MPI", func(t *testing.T) { shareMPI(t, e, base+"-mpi") })
	t.Run("Srun", func(t *testing.T) { shareSrun(t, e) })
}

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

// shareLatency measures the start of a rank: plain, joining a running
// holder, and as the first caller.
func shareLatency(t *testing.T, e *shareEnv, name string) {
	const n = 8
	measure := func(args ...string) time.Duration {
		best := time.Hour
		for range n {
			s := time.Now()
			if r := e.run(t, nil, args...); r.code != 0 {
				t.Fatalf("%q: exit %d %q", args, r.code, r.err)
			}
			best = min(best, time.Since(s))
		}
		return best
	}
	plain := measure("--", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keep := e.cmd(ctx, nil, "--share-ns", name, "--", "sleep", "30")
	keep.Start()
	waitUntil(5*time.Second, func() bool { _, err := os.Lstat(e.sock(name)); return err == nil })
	joined := measure("--share-ns", name, "--", "true")
	keep.Process.Signal(syscall.SIGTERM)
	keep.Wait()
	first := time.Hour
	for i := range 3 {
		s := time.Now()
		if r := e.run(t, nil, "--share-ns", fmt.Sprintf("%s-f%d", name, i), "--", "true"); r.code != 0 {
			t.Fatalf("first caller: exit %d %q", r.code, r.err)
		}
		first = min(first, time.Since(s))
	}
	t.Logf("start to end of 'true' (best of %d): plain %v, joined %v, first caller (starts the holder) %v (load %s)",
		n, plain.Round(time.Microsecond), joined.Round(time.Microsecond), first.Round(time.Microsecond), loadAvg())
}

// shareMPI: two ranks under mpirun in one job namespace set use CMA
// (forced, with 1 MiB messages); rootless without --share-ns OpenMPI
// refuses CMA between the ranks' user namespaces.
func shareMPI(t *testing.T, e *shareEnv, name string) {
	for _, b := range []string{"mpicc", "mpirun"} {
		if _, err := exec.LookPath(b); err != nil {
			require(t, false, b+" not found (apt-get install openmpi-bin libopenmpi-dev)")
		}
	}
	pp := e.pingpong(t)
	tmp := filepath.Join(e.dir, "tmp")
	os.Mkdir(tmp, 0o1777)
	os.Chmod(tmp, 0o1777)
	env := []string{"TMPDIR=" + tmp, "OMPI_MCA_btl=self,vader", "OMPI_MCA_btl_vader_single_copy_mechanism=cma"}
	mpi := append(mpirunArgs(root()), e.bin, "--preset", "mpi", hostRootFlag())
	run := func(args ...string) shareRun {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, args[0], args[1:]...)
		c.Env = append(append(os.Environ(), "XDG_RUNTIME_DIR="+e.xdg), env...)
		c.Dir = e.dir
		var o, er bytes.Buffer
		c.Stdout, c.Stderr = &o, &er
		err := c.Run()
		r := shareRun{o.String(), er.String(), 0}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			t.Fatalf("%q: timed out; stderr %q", args, r.err)
		}
		return r
	}
	for _, c := range []struct{ what, bytes, iters string }{{"1 MiB", "1048576", "200"}, {"8 B", "8", "20000"}} {
		r := run(append(slicesClone(mpi), "--share-ns", name+"-"+c.bytes, "--", pp, c.iters, c.bytes)...)
		m := pingpongLine.FindStringSubmatch(r.out)
		if r.code != 0 || m == nil {
			t.Fatalf("mpirun sandboxrun --preset mpi --share-ns (CMA forced, %s): exit %d, stdout %q, stderr %q", c.what, r.code, r.out, r.err)
		}
		if strings.Contains(r.err, "cma-different-user-namespace") {
			t.Errorf("CMA refused between ranks of one job namespace set: %q", r.err)
		}
		t.Logf("--share-ns, CMA forced, %s: %s µs one way (load %s)", c.what, m[1], loadAvg())
	}
	r := run(append(slicesClone(mpi), "--", pp, "200", "1048576")...)
	if root() {
		t.Logf("as root (no user namespace per rank) without --share-ns, CMA forced: exit %d", r.code)
	} else if r.code == 0 || !cmaRefused(r.err) {
		t.Errorf("rootless ranks in separate user namespaces with CMA forced: exit %d, stderr %q; want OpenMPI's refusal", r.code, r.err)
	}
}

// cmaRefused recognises OpenMPI's vader BTL giving up on forced CMA between
// ranks in different user namespaces. Its explanation goes through ORTE's
// show_help, which now and then arrives garbled ("Data unpack would read
// past end of buffer"); the abort line from vader itself always comes.
func cmaRefused(stderr string) bool {
	return strings.Contains(stderr, "different user namespaces") ||
		strings.Contains(stderr, "cma-different-user-namespace") ||
		strings.Contains(stderr, "vader BTL is aborting")
}

// nsinfoScript prints the rank's namespaces, then execs its arguments.
const nsinfoScript = `#!/bin/sh
for n in user pid mnt ipc; do echo "nsinfo $SLURM_PROCID $n $(readlink /proc/self/ns/$n)"; done
exec "$@"
`

// srunStep is one srun with an XDG_RUNTIME_DIR and a TMPDIR of its own:
// the job's name is the step's (PMIX_NAMESPACE), and the one lock file
// in its runtime directory tells it.
type srunStep struct {
	e   *shareEnv
	xdg string
	env []string
}

func (e *shareEnv) newStep(t *testing.T) *srunStep {
	t.Helper()
	d, err := os.MkdirTemp(e.dir, "step-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	s := &srunStep{e: e, xdg: filepath.Join(d, "xdg")}
	tmp := filepath.Join(d, "tmp")
	if err := os.Mkdir(s.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o1777)
	s.env = []string{"XDG_RUNTIME_DIR=" + s.xdg, "TMPDIR=" + tmp, "OMPI_MCA_btl=self,vader"}
	return s
}

func (s *srunStep) cmd(ctx context.Context, env []string, argv ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = append(append(os.Environ(), s.env...), env...)
	c.Dir = s.e.dir
	return c
}

func (s *srunStep) run(t *testing.T, env []string, argv ...string) shareRun {
	t.Helper()
	return runTimed(t, 120*time.Second, func(ctx context.Context) *exec.Cmd { return s.cmd(ctx, env, argv...) }, argv)
}

func (s *srunStep) jobDir() string { return filepath.Join(s.xdg, "nsfork-jobns") }

// jobName is the name of the step's job: that of the one NAME.lock in
// the runtime directory.
func (s *srunStep) jobName(t *testing.T) string {
	t.Helper()
	locks, _ := filepath.Glob(filepath.Join(s.jobDir(), "*.lock"))
	if len(locks) != 1 {
		t.Fatalf("want one lock file in %s, found %q", s.jobDir(), locks)
	}
	return strings.TrimSuffix(filepath.Base(locks[0]), ".lock")
}

// rankNS parses the nsinfo lines: rank to "user:[..] pid:[..] ...".
func rankNS(out string) map[string]string {
	ns := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "nsinfo" {
			ns[f[1]] = strings.TrimSpace(ns[f[1]] + " " + f[3])
		}
	}
	return ns
}

// checkRankNS checks that ranks 0 and 1 reported the same four
// namespaces, none of them the host's, and returns their pid namespace.
func checkRankNS(t *testing.T, out string) string {
	t.Helper()
	ns := rankNS(out)
	if len(ns) != 2 || ns["0"] != ns["1"] || len(strings.Fields(ns["0"])) != 4 {
		t.Fatalf("ranks 0 and 1 do not report one set of user, pid, mnt and ipc namespaces: %q (output %q)", ns, out)
	}
	var pidNS string
	for _, v := range strings.Fields(ns["0"]) {
		n, _, _ := strings.Cut(v, ":")
		if v == ownNS(t, n) {
			t.Errorf("the ranks' %s namespace is the host's (%s)", n, v)
		}
		if n == "pid" {
			pidNS = v
		}
	}
	return pidNS
}

// inPidNS lists the host processes in pid namespace ns (those whose
// namespace this user may read: all of them as root).
func inPidNS(ns string) []int {
	return pidsWhere(func(dir string) bool {
		l, err := os.Readlink(filepath.Join(dir, "ns", "pid"))
		return err == nil && l == ns
	})
}

// checkJobGone: after the step, nothing of the job's namespace set is
// left: no process with one of the markers in its command line, no
// holder, no process in its pid namespace, and no socket.
func checkJobGone(t *testing.T, s *srunStep, name, pidNS string, markers ...string) {
	t.Helper()
	start := time.Now()
	left := func() []string {
		var l []string
		for _, m := range append([]string{"nsfork-jobns-holder " + name}, markers...) {
			if n := pgrepCount(m); n > 0 {
				l = append(l, fmt.Sprintf("%d processes match %q", n, m))
			}
		}
		if ps := inPidNS(pidNS); len(ps) > 0 {
			l = append(l, fmt.Sprintf("pids %v are in the job's %s", ps, pidNS))
		}
		return l
	}
	if !waitUntil(15*time.Second, func() bool { return len(left()) == 0 }) {
		out, _ := exec.Command("ps", "-eo", "pid,ppid,uid,stat,args").Output()
		t.Errorf("the job's namespace set outlived its step: %q\n%s", left(), out)
		for _, p := range inPidNS(pidNS) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	} else {
		t.Logf("no process of the job left %.2f s after srun returned", time.Since(start).Seconds())
	}
	// Killed with the step's cgroup (SIGKILL, as soon as the tasks have
	// ended: the holder is still in its grace period), the holder cannot
	// remove its socket; the next --share-ns start in the directory
	// removes it as stale (its lock free, its connect refused).
	sock := filepath.Join(s.jobDir(), name+".sock")
	gone := func() bool { _, err := os.Lstat(sock); return os.IsNotExist(err) }
	if waitUntil(3*time.Second, gone) {
		t.Logf("the holder removed %s", sock)
		return
	}
	if _, err := net.Dial("unix", sock); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%s is left after the step and a connect to it gives %v, not ECONNREFUSED", sock, err)
	}
	if r := s.e.run(t, []string{"XDG_RUNTIME_DIR=" + s.xdg}, "--share-ns", "next-"+name, "--", "true"); r.code != 0 {
		t.Fatalf("the next --share-ns start in %s: exit %d, stderr %q", s.xdg, r.code, r.err)
	}
	if !gone() {
		t.Errorf("%s, left by the holder killed with the step, is still there after the next --share-ns start in its directory", sock)
	} else {
		t.Logf("the holder died with the step's cgroup and left %s; the next --share-ns start removed it", filepath.Base(sock))
	}
}

var srunSeq int

// shareSrun: srun --mpi=pmix -n 2 sandboxrun --preset mpi --share-ns job.
func shareSrun(t *testing.T, e *shareEnv) {
	ok, why := slurmUp()
	require(t, ok, why)
	for _, b := range []string{"mpicc", "mpirun"} {
		if _, err := exec.LookPath(b); err != nil {
			require(t, false, b+" not found (apt-get install openmpi-bin libopenmpi-dev)")
		}
	}
	out, err := exec.Command("srun", "--mpi=list").CombinedOutput()
	require(t, err == nil && strings.Contains(string(out), "pmix"),
		fmt.Sprintf("srun --mpi=list has no pmix (apt-get install libpmix2, then restart slurmd): %v %q", err, out))
	wrap := filepath.Join(e.dir, "nsinfo.sh")
	if err := os.WriteFile(wrap, []byte(nsinfoScript), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("PingPong", func(t *testing.T) { shareSrunPingpong(t, e, wrap) })
	t.Run("StepEnd", func(t *testing.T) {
		slurmCgroupReady(t)
		shareSrunEnd(t, e, wrap, false)
	})
	t.Run("Scancel", func(t *testing.T) {
		slurmCgroupReady(t)
		shareSrunEnd(t, e, wrap, true)
	})
}

// shareSrunPingpong: the two ranks of a step join one namespace set,
// named after the step's PMIX_NAMESPACE, and OpenMPI's CMA works between
// them (forced); rootless without --share-ns it is refused.
func shareSrunPingpong(t *testing.T, e *shareEnv, wrap string) {
	pp := e.pingpong(t)
	srun := []string{"srun", "--mpi=pmix", "-n", "2", "--time=5"}
	cma := []string{"OMPI_MCA_btl_vader_single_copy_mechanism=cma"}

	r := e.newStep(t).run(t, nil, append(slicesClone(srun), pp, pingpongIters)...)
	m := pingpongLine.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		t.Fatalf("bare srun: exit %d, stdout %q stderr %q", r.code, r.out, r.err)
	}
	bare, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("bare srun, 8 B: %.3f µs one way (load %s)", bare, loadAvg())

	for _, c := range []struct{ what, iters, bytes string }{{"8 B", pingpongIters, "8"}, {"1 MiB", "200", "1048576"}} {
		s := e.newStep(t)
		start := time.Now()
		r := s.run(t, cma, append(slicesClone(srun), e.bin, "--preset", "mpi", hostRootFlag(), "--share-ns", "job", "--", wrap, pp, c.iters, c.bytes)...)
		el := time.Since(start)
		m := pingpongLine.FindStringSubmatch(r.out)
		if r.code != 0 || m == nil {
			t.Fatalf("srun sandboxrun --preset mpi --share-ns job (CMA forced, %s): exit %d, stdout %q, stderr %q", c.what, r.code, r.out, r.err)
		}
		if strings.Contains(r.err, "different user namespaces") {
			t.Errorf("CMA refused between ranks of one job namespace set: %q", r.err)
		}
		checkRankNS(t, r.out)
		if name := s.jobName(t); !strings.HasPrefix(name, "pmix-") {
			t.Errorf("--share-ns job under srun --mpi=pmix named the job %q, want pmix-PMIX_NAMESPACE", name)
		}
		p0, _ := strconv.Atoi(m[2])
		p1, _ := strconv.Atoi(m[3])
		if p0 == p1 || p0 <= 1 || p1 <= 1 || p0 > 1000 || p1 > 1000 {
			t.Errorf("rank pids %d,%d: want two small pids of the job's pid namespace, neither 1 (the holder)", p0, p1)
		}
		us, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("srun --share-ns job, CMA forced, %s: %.3f µs one way, srun took %.2f s (load %s)", c.what, us, el.Seconds(), loadAvg())
		if c.bytes == "8" && us > latencyBound(bare) {
			t.Errorf("%s: %.3f µs one way, over the bound %.3f µs (bare %.3f µs)", c.what, us, latencyBound(bare), bare)
		}
	}

	r = e.newStep(t).run(t, cma, append(slicesClone(srun), e.bin, "--preset", "mpi", hostRootFlag(), "--", pp, "200", "1048576")...)
	if root() {
		t.Logf("as root (no user namespace per rank) without --share-ns, CMA forced: exit %d", r.code)
	} else if r.code == 0 || !cmaRefused(r.err) {
		t.Errorf("rootless ranks in separate user namespaces with CMA forced: exit %d, stderr %q; want OpenMPI's refusal", r.code, r.err)
	} else {
		t.Logf("rootless without --share-ns, CMA forced: exit %d, OpenMPI refuses CMA between different user namespaces", r.code)
	}
}

// shareSrunEnd: under proctrack/cgroup, nothing of the job's namespace
// set outlives the step, whether it ends by itself or is cancelled. Each
// rank leaves a daemon in the namespace set (own session, so out of the
// rank's process group, TERM, HUP and INT ignored): only the end of the
// holder, pid 1 of the job's pid namespace, takes it.
func shareSrunEnd(t *testing.T, e *shareEnv, wrap string, cancel bool) {
	srunSeq++
	n := srunSeq
	rankTok := fmt.Sprintf("%d.%d", 70000+n, os.Getpid())
	daemonTok := fmt.Sprintf("%d.%d", 75000+n, os.Getpid())
	script := fmt.Sprintf(`( trap "" TERM HUP INT; exec setsid sleep %s </dev/null >/dev/null 2>&1 & )
`, daemonTok)
	if cancel {
		script += "exec sleep " + rankTok + "\n"
	} else {
		script += "sleep 1\n"
	}
	jobName := fmt.Sprintf("nsfork-share-%d-%d", os.Getpid(), n)
	s := e.newStep(t)
	ctx, stop := context.WithTimeout(context.Background(), 120*time.Second)
	defer stop()
	cmd := s.cmd(ctx, nil, "srun", "--mpi=pmix", "-n", "2", "--time=5", "--job-name", jobName,
		e.bin, "--preset", "mpi", "--share-ns", "job", "--", wrap, "/bin/sh", "-c", script)
	var out, errOut lineWriter
	cmd.Stdout, cmd.Stderr = &out, &errOut
	t.Cleanup(func() {
		for _, p := range procsWith(rankTok, daemonTok) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Both ranks' daemons run (and, to be cancelled, both ranks).
	if !waitUntil(60*time.Second, func() bool {
		return len(procsWith(daemonTok)) == 2 && (!cancel || len(procsWith(rankTok)) == 2)
	}) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the ranks did not start their daemons: daemons %v ranks %v; stdout %q stderr %q", procsWith(daemonTok), procsWith(rankTok), out.String(), errOut.String())
	}
	// The check of the pid namespace below sees its processes: the
	// daemons at least (and the holder, where this user may read its
	// namespaces: it is not dumpable).
	if !waitUntil(10*time.Second, func() bool { return len(rankNS(out.String())) == 2 }) {
		t.Fatalf("the ranks did not report their namespaces: %q", out.String())
	}
	ps := inPidNS(checkRankNS(t, out.String()))
	if len(ps) < 2 {
		t.Errorf("%d processes found in the job's pid namespace while it runs, want at least the 2 daemons", len(ps))
	}
	t.Logf("%d processes in the job's pid namespace while it runs", len(ps))
	if cancel {
		q, err := exec.Command("squeue", "-h", "-o", "%i", "-n", jobName).Output()
		job := strings.TrimSpace(string(q))
		if err != nil || job == "" {
			t.Fatalf("squeue -n %s: %v %q", jobName, err, q)
		}
		start = time.Now()
		if err := exec.Command("scancel", job).Run(); err != nil {
			t.Fatalf("scancel %s: %v", job, err)
		}
	}
	err := cmd.Wait()
	t.Logf("srun ended %.2f s after %s: %v", time.Since(start).Seconds(), map[bool]string{false: "its start", true: "scancel"}[cancel], err)
	if ctx.Err() != nil {
		t.Fatalf("srun did not end; stdout %q stderr %q", out.String(), errOut.String())
	}
	if !cancel && err != nil {
		t.Errorf("srun: %v; stdout %q stderr %q", err, out.String(), errOut.String())
	}
	if cancel && !strings.Contains(errOut.String(), "CANCELLED") {
		t.Errorf("srun's stderr does not say the step was cancelled: %q", errOut.String())
	}
	pidNS := checkRankNS(t, out.String())
	checkJobGone(t, s, s.jobName(t), pidNS, "sleep "+rankTok, "sleep "+daemonTok)
}
