package integration

// HPC: MPI ranks and Slurm job steps in sandboxes. An MPI ping-pong
// (testdata/mpi/pingpong.c, compiled here with mpicc) runs bare and in each
// mode: the whole job in one sandbox (sandboxrun -- mpirun ...), one
// sandbox per rank under mpirun and under srun (--preset mpi). Every run
// is restricted to OpenMPI's self and vader (shared-memory) transports, so
// that completing proves shared memory carried the messages; the latency
// bound is generous (the machine is shared), BenchmarkMPILatency prints the
// figures. The Slurm tests need a running one-node Slurm
// (scripts/slurm-up.sh); the time-limit test waits 75-90 s for slurmctld's
// 30 s enforcement cycle and runs only with NSFORK_SLURM_TIMELIMIT=1.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vaderOnly makes TCP impossible: a rank that cannot reach its peer over
// shared memory fails instead of falling back.
var vaderOnly = []string{"OMPI_MCA_btl=self,vader"}

type hpcFixture struct {
	dir      string // world-readable, holds pingpong and trap.sh
	pingpong string
	trap     string
	bin      string // sandboxrun
}

var (
	hpcOnce sync.Once
	hpcFix  *hpcFixture
	hpcErr  error
)

// hpcSetup compiles the ping-pong with mpicc and finds (or builds)
// sandboxrun, once per test binary. The directory is removed at the end
// of the test that first asked for it (TestHPC, or the benchmark).
func hpcSetup(tb testing.TB) *hpcFixture {
	tb.Helper()
	for _, b := range []string{"mpicc", "mpirun"} {
		if _, err := exec.LookPath(b); err != nil {
			hpcRequire(tb, false, b+" not found (apt-get install openmpi-bin libopenmpi-dev)")
		}
	}
	first := false
	hpcOnce.Do(func() {
		first = true
		hpcFix, hpcErr = newHPCFixture()
	})
	if hpcErr != nil {
		tb.Fatalf("HPC fixture: %v", hpcErr)
	}
	if first {
		tb.Cleanup(func() { os.RemoveAll(hpcFix.dir) })
	}
	return hpcFix
}

func newHPCFixture() (*hpcFixture, error) {
	dir, err := os.MkdirTemp("", "nsfork-hpc-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	f := &hpcFixture{dir: dir, pingpong: filepath.Join(dir, "pingpong"), trap: filepath.Join(dir, "trap.sh")}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "mpi", "pingpong.c")
	cmd := exec.Command("mpicc", "-O2", "-o", f.pingpong, src)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mpicc %s: %v: %s", src, err, out)
	}
	if err := os.WriteFile(f.trap, []byte(trapScript), 0o755); err != nil {
		return nil, err
	}
	if p := os.Getenv("NSFORK_SANDBOXRUN"); p != "" {
		f.bin = p
		return f, nil
	}
	// buildSandboxrun records its directory for TestCLI's cleanup; this
	// build is ours and is removed with the fixture.
	saved := cliDir
	f.bin, err = buildSandboxrun()
	if err == nil {
		err = os.Rename(f.bin, filepath.Join(dir, "sandboxrun"))
		os.RemoveAll(cliDir)
		f.bin = filepath.Join(dir, "sandboxrun")
	}
	cliDir = saved
	return f, err
}

// hpcRequire is require for tests and benchmarks.
func hpcRequire(tb testing.TB, ok bool, why string) {
	tb.Helper()
	if t, isT := tb.(*testing.T); isT {
		require(t, ok, why)
		return
	}
	if !ok {
		tb.Skip(why)
	}
}

// trapScript records the signals it receives, with the time, in the file
// named by $1, and ticks every second: it ignores SIGTERM, so that only
// SIGKILL ends it. Slurm signals every process of the step, so a date(1)
// in flight may die and leave a line without its time: the tests count
// lines, and use the times only to log.
const trapScript = `#!/bin/sh
out=$1
rec() { echo "$1 $(date +%s.%N) $$" >> "$out"; }
trap 'rec TERM' TERM
trap 'rec USR1' USR1
trap 'rec USR2' USR2
trap 'rec CONT' CONT
rec START
i=0
while :; do sleep 0.2; i=$((i+1)); [ $((i % 5)) = 0 ] && rec TICK; done
`

type hpcResult struct {
	out, err string
	code     int
}

// hpcRun runs a command with extra environment, a deadline and a
// directory the running user can write. TMPDIR is a new directory: a
// sandbox that maps the caller to root inside creates OpenMPI's session
// directory /tmp/ompi.HOST.0 owned by the caller, which real root without
// CAP_DAC_OVERRIDE (the mpi preset's ranks) then cannot enter, and the
// other way round; the root and rootless suites must not meet there.
func hpcRun(tb testing.TB, f *hpcFixture, timeout time.Duration, env []string, argv ...string) hpcResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tmp, err := os.MkdirTemp(f.dir, "tmp-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o1777)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = f.dir
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	r := hpcResult{o.String(), e.String(), 0}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		tb.Fatalf("%q: no end after %s; stdout %q stderr %q", argv, timeout, r.out, r.err)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		tb.Fatalf("%q: %v", argv, err)
	}
	return r
}

var pingpongLine = regexp.MustCompile(`pingpong bytes=\d+ iters=\d+ oneway_us=([0-9.]+) pids=(\d+),(\d+)`)

type pingpong struct {
	us         float64
	pid0, pid1 int
}

// runPingpong runs argv (which ends in the ping-pong) and returns what rank
// 0 printed; the run must succeed.
func runPingpong(tb testing.TB, f *hpcFixture, env []string, argv ...string) pingpong {
	tb.Helper()
	r := hpcRun(tb, f, 120*time.Second, append(slicesClone(vaderOnly), env...), argv...)
	m := pingpongLine.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		tb.Fatalf("%s: exit %d, no ping-pong result; stdout %q stderr %q", strings.Join(argv, " "), r.code, r.out, r.err)
	}
	us, _ := strconv.ParseFloat(m[1], 64)
	p0, _ := strconv.Atoi(m[2])
	p1, _ := strconv.Atoi(m[3])
	return pingpong{us, p0, p1}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// mpirunArgs starts mpirun with two ranks; root needs --allow-run-as-root.
func mpirunArgs(asRoot bool) []string {
	a := []string{"mpirun", "-np", "2", "--oversubscribe"}
	if asRoot {
		a = append(a, "--allow-run-as-root")
	}
	return a
}

const pingpongIters = "2000"

// latencyBound is the generous bound the tests assert: TCP over loopback
// is about 7 µs one way here, shared memory about 0.15 µs.
func latencyBound(bare float64) float64 { return math.Max(3, 10*bare) }

func slurmUp() (bool, string) {
	if _, err := exec.LookPath("srun"); err != nil {
		return false, "srun not found (apt-get install slurm-wlm; scripts/slurm-up.sh as root)"
	}
	out, err := exec.Command("scontrol", "ping").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "UP") {
		return false, fmt.Sprintf("no Slurm controller (scontrol ping: %v %s): start one with scripts/slurm-up.sh as root", err, strings.TrimSpace(string(out)))
	}
	return true, ""
}

// TestHPC runs the MPI and Slurm modes against one fixture.
func TestHPC(t *testing.T) {
	f := hpcSetup(t)
	var bare float64
	t.Run("MPI/Bare", func(t *testing.T) {
		bare = runPingpong(t, f, nil, append(mpirunArgs(root()), f.pingpong, pingpongIters)...).us
		t.Logf("bare mpirun: %.3f µs one way (load %s)", bare, loadAvg())
	})
	// Without the bare run (-run selecting other subtests) the bound is
	// the absolute one.
	bound := latencyBound(bare)
	check := func(t *testing.T, what string, p pingpong) {
		t.Helper()
		t.Logf("%s: %.3f µs one way, bare %.3f µs (load %s)", what, p.us, bare, loadAvg())
		if p.us > bound {
			t.Errorf("%s: %.3f µs one way, over the bound %.3f µs (bare %.3f µs): not shared-memory speed", what, p.us, bound, bare)
		}
	}

	t.Run("MPI/WholeJob", func(t *testing.T) {
		// The defaults: root inside (mapped from the caller when rootless),
		// so mpirun needs --allow-run-as-root in both modes. mpirun is a
		// small pid of the sandbox's pid namespace, the same in every
		// sandbox, and OpenMPI names its session directory in $TMPDIR and
		// its segments in /dev/shm after uid, host and pid: a sandbox
		// that shares /tmp and /dev/shm with another job running as the
		// same uid inside may collide with it. So: a TMPDIR of its own
		// with the defaults, and the recommended private /dev/shm.
		mpirun := append(mpirunArgs(true), f.pingpong, pingpongIters)
		tmp := tempDir(t)
		os.Chmod(tmp, 0o777)
		p := runPingpong(t, f, []string{"TMPDIR=" + tmp}, append([]string{f.bin, "--rw", tmp, "--"}, mpirun...)...)
		check(t, "sandboxrun -- mpirun", p)
		if p.pid0 == 1 || p.pid1 == 1 || p.pid0 > 1000 || p.pid1 > 1000 {
			t.Errorf("rank pids %d,%d: want small pids of the sandbox's own pid namespace, neither of them 1", p.pid0, p.pid1)
		}
		p = runPingpong(t, f, nil, append([]string{f.bin, "--rw", tmp, "--tmpfs", "/dev/shm", "--env", "TMPDIR=" + tmp, "--"}, mpirun...)...)
		check(t, "sandboxrun --tmpfs /dev/shm --env TMPDIR=DIR -- mpirun", p)
		if !root() {
			// Mapped to itself: mpirun runs as the user, no
			// --allow-run-as-root.
			uid := strconv.Itoa(os.Geteuid())
			gid := strconv.Itoa(os.Getegid())
			p := runPingpong(t, f, nil, append(append([]string{f.bin, "--uid", uid, "--gid", gid, "--rw", tmp, "--tmpfs", "/dev/shm", "--env", "TMPDIR=" + tmp, "--"},
				mpirunArgs(false)...), f.pingpong, pingpongIters)...)
			check(t, "sandboxrun --uid $(id -u) -- mpirun", p)
		}
	})

	t.Run("MPI/PerRank", func(t *testing.T) {
		p := runPingpong(t, f, nil, append(mpirunArgs(root()), f.bin, "--preset", "mpi", hostRootFlag(), "--", f.pingpong, pingpongIters)...)
		check(t, "mpirun sandboxrun --preset mpi", p)
		if p.pid0 == p.pid1 || p.pid0 == 1 || p.pid1 == 1 {
			t.Errorf("rank pids %d,%d: want the host's pids (no pid namespace per rank)", p.pid0, p.pid1)
		}
	})

	t.Run("MPI/PresetInside", hpcPresetInside)

	t.Run("MPI/PrivateShmDetected", func(t *testing.T) {
		// Without the preset, a rank whose /dev/shm is private gets a
		// warning; with it, sandboxrun refuses to start.
		// The ranks run /bin/true: the warning is sandboxrun's, before
		// the command starts (MPI_Init with a private /dev/shm may fail,
		// or hang mpirun, which is not what this test is about).
		base := append(mpirunArgs(root()), f.bin, "--share-fs", "--share-net", "--share", "pid", "--share", "ipc", "--tmpfs", "/dev/shm")
		r := hpcRun(t, f, 60*time.Second, nil, append(base, "--", "/bin/true")...)
		if !strings.Contains(r.err, "warning: running as an MPI rank under mpirun") || !strings.Contains(r.err, "/dev/shm is private") {
			t.Errorf("private /dev/shm under mpirun: no warning; exit %d stderr %q", r.code, r.err)
		}
		r = hpcRun(t, f, 60*time.Second, nil, append(mpirunArgs(root()), f.bin, "--preset", "mpi", hostRootFlag(), "--tmpfs", "/dev/shm", "--", f.pingpong, "10")...)
		if r.code == 0 || !strings.Contains(r.err, "--preset mpi: mounts: /dev/shm is private") {
			t.Errorf("--preset mpi --tmpfs /dev/shm: exit %d, stderr %q; want exit 125 and the error", r.code, r.err)
		}
	})

	t.Run("Slurm", func(t *testing.T) {
		ok, why := slurmUp()
		require(t, ok, why)
		t.Run("SignalsBeforeKill", func(t *testing.T) { t.Parallel(); slurmSignals(t, f) })
		t.Run("TimeLimit", func(t *testing.T) { t.Parallel(); slurmTimeLimit(t, f) })
		t.Run("PerRank", func(t *testing.T) {
			srun := []string{"srun", "--mpi=pmix", "-n", "2", "--time=5"}
			b := runPingpong(t, f, nil, append(srun, f.pingpong, pingpongIters)...)
			t.Logf("bare srun: %.3f µs one way", b.us)
			p := runPingpong(t, f, nil, append(srun, f.bin, "--preset", "mpi", hostRootFlag(), "--", f.pingpong, pingpongIters)...)
			check(t, "srun sandboxrun --preset mpi", p)
			if p.pid0 == p.pid1 || p.pid0 == 1 || p.pid1 == 1 {
				t.Errorf("rank pids %d,%d: want the host's pids", p.pid0, p.pid1)
			}
		})
		t.Run("ExitCode", func(t *testing.T) {
			r := hpcRun(t, f, 60*time.Second, nil, "srun", "-n", "1", "--time=5", f.bin, "--", "/bin/sh", "-c", "exit 7")
			if r.code != 7 {
				t.Errorf("srun sandboxrun -- sh -c 'exit 7': exit %d, want 7; stderr %q", r.code, r.err)
			}
		})
	})
}

// hpcPresetInside: what the mpi preset applies, seen from inside a rank.
func hpcPresetInside(t *testing.T) {
	f := hpcSetup(t)
	script := `id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; for n in user pid mnt net ipc; do echo "ns-$n:$(readlink /proc/self/ns/$n)"; done
touch /usr/nsfork-mpi-probe 2>/dev/null && echo usr-writable; touch /dev/shm/nsfork-mpi-probe.$$ && rm /dev/shm/nsfork-mpi-probe.$$ && echo shm-ok; echo "env:$OMPI_COMM_WORLD_SIZE"; echo "map:$(tr -s ' ' </proc/self/uid_map | sed 's/^ //')"`
	r := hpcRun(t, f, 60*time.Second, nil, append(mpirunArgs(root()), f.bin, "--preset", "mpi", "--", "/bin/sh", "-c", script)...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	st := statusOf(r.out)
	if st["CapEff"] != "0000000000000000" || st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("CapEff %q NoNewPrivs %q Seccomp %q: want none, 1, 2", st["CapEff"], st["NoNewPrivs"], st["Seccomp"])
	}
	if root() {
		// Root's ranks are uid 0 of a range of unprivileged host ids.
		if !strings.HasPrefix(r.out, "0\n") || strings.Contains(r.out, "map:0 0 ") {
			t.Errorf("uid inside: %q, want 0 mapped onto a leased range, never host root", r.out)
		}
	} else if !strings.HasPrefix(r.out, strconv.Itoa(os.Geteuid())+"\n") {
		t.Errorf("uid inside: %q, want %d (mapped to itself)", r.out, os.Geteuid())
	}
	for _, n := range []string{"pid", "net", "ipc"} {
		if st["ns-"+n] != ownNS(t, n) {
			t.Errorf("%s namespace %q, want the host's %q", n, st["ns-"+n], ownNS(t, n))
		}
	}
	if st["ns-mnt"] == ownNS(t, "mnt") {
		t.Error("no mount namespace of its own")
	}
	if st["ns-user"] == ownNS(t, "user") {
		t.Errorf("user namespace %q (own %q): want a new one, as root too", st["ns-user"], ownNS(t, "user"))
	}
	if strings.Contains(r.out, "usr-writable") {
		t.Error("/usr is writable in the mpi preset")
	}
	if strings.Count(r.out, "shm-ok") != 2 || strings.Count(r.out, "env:2") != 2 {
		t.Errorf("want both ranks to write /dev/shm and see OMPI_COMM_WORLD_SIZE=2: %q", r.out)
	}
}

// signalLog reads what trapScript recorded: the signal names in order and
// their times.
func signalLog(path string) ([]string, []float64) {
	b, _ := os.ReadFile(path)
	var names []string
	var times []float64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 2 {
			continue
		}
		ts, err := strconv.ParseFloat(fs[1], 64)
		if err != nil {
			ts = math.NaN()
		}
		names = append(names, fs[0])
		times = append(times, ts)
	}
	return names, times
}

// waitFor polls until cond holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// checkGrace checks that the program got SIGTERM, lived on after it (it
// traps it) and was then killed: the ticks after TERM show the grace
// period, and the missing exit shows SIGKILL ended it.
func checkGrace(t *testing.T, log string) {
	t.Helper()
	names, times := signalLog(log)
	term := -1
	for i, n := range names {
		if n == "TERM" {
			term = i
			break
		}
	}
	if term < 0 {
		t.Fatalf("the sandboxed program never saw SIGTERM; it recorded %v", names)
	}
	ticks := 0
	for _, n := range names[term:] {
		if n == "TICK" {
			ticks++
		}
	}
	if ticks < 2 {
		t.Errorf("only %d ticks after SIGTERM: the program did not live on through the grace period (%v)", ticks, names)
	}
	t.Logf("SIGTERM after %.1f s, then %d s of grace until SIGKILL", times[term]-times[0], ticks)
}

// slurmSignals: scancel goes through slurmd's termination path (SIGCONT,
// SIGTERM, KillWait, SIGKILL), as the time limit does, and scancel
// --signal delivers any signal: both reach a program that runs in a new
// pid namespace.
func slurmSignals(t *testing.T, f *hpcFixture) {
	dir := tempDir(t)
	os.Chmod(dir, 0o777)
	log := filepath.Join(dir, "signals")
	name := fmt.Sprintf("nsfork-sig-%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "srun", "-n", "1", "--time=5", "--job-name", name, f.bin, "--rw", dir, "--", f.trap, log)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if !waitFor(60*time.Second, func() bool { n, _ := signalLog(log); return len(n) > 0 }) {
		t.Fatalf("the job did not start; srun: %q", e.String())
	}
	out, err := exec.Command("squeue", "-h", "-o", "%i", "-n", name).Output()
	job := strings.TrimSpace(string(out))
	if err != nil || job == "" {
		t.Fatalf("squeue -n %s: %v %q", name, err, out)
	}
	for _, s := range []string{"USR1", "USR2"} {
		if err := exec.Command("scancel", "--signal="+s, job).Run(); err != nil {
			t.Fatalf("scancel --signal=%s %s: %v", s, job, err)
		}
		if !waitFor(10*time.Second, func() bool { n, _ := signalLog(log); return strings.Contains(strings.Join(n, " "), s) }) {
			n, _ := signalLog(log)
			t.Errorf("SIG%s from scancel did not reach the sandboxed program: %v", s, n)
		}
	}
	start := time.Now()
	if err := exec.Command("scancel", job).Run(); err != nil {
		t.Fatalf("scancel %s: %v", job, err)
	}
	err = cmd.Wait()
	t.Logf("srun ended %.1f s after scancel: %v", time.Since(start).Seconds(), err)
	if !strings.Contains(e.String(), "CANCELLED") {
		t.Errorf("srun's stderr does not say the step was cancelled: %q", e.String())
	}
	if n, _ := signalLog(log); !strings.Contains(strings.Join(n, " "), "CONT") {
		t.Errorf("Slurm's SIGCONT did not reach the sandboxed program: %v", n)
	}
	checkGrace(t, log)
	if t.Failed() {
		b, _ := os.ReadFile(log)
		t.Logf("the program's record:\n%s", b)
	}
}

// slurmTimeLimit: srun --time=1 ends a program that runs in a new pid
// namespace with SIGTERM first, then SIGKILL after KillWait. slurmctld
// checks time limits every 30 s, so this takes 75-90 s plus KillWait.
func slurmTimeLimit(t *testing.T, f *hpcFixture) {
	if os.Getenv("NSFORK_SLURM_TIMELIMIT") != "1" {
		t.Skip("waits 75-90 s for Slurm's time limit: set NSFORK_SLURM_TIMELIMIT=1 (CI runs it once, beside the suite)")
	}
	dir := tempDir(t)
	os.Chmod(dir, 0o777)
	log := filepath.Join(dir, "signals")
	start := time.Now()
	r := hpcRun(t, f, 200*time.Second, nil, "srun", "-n", "1", "--time=1", f.bin, "--rw", dir, "--", f.trap, log)
	t.Logf("srun --time=1 ended after %.0f s, exit %d", time.Since(start).Seconds(), r.code)
	if !strings.Contains(r.err, "DUE TO TIME LIMIT") {
		t.Errorf("srun's stderr does not name the time limit: %q", r.err)
	}
	if el := time.Since(start); el < 60*time.Second {
		t.Errorf("srun --time=1 ended after %s, before the limit", el)
	}
	names, _ := signalLog(log)
	ticks := 0
	for _, n := range names {
		if n == "TERM" {
			break
		}
		if n == "TICK" {
			ticks++
		}
	}
	if ticks < 40 {
		t.Errorf("SIGTERM after %d ticks (about a second each): before the 1-minute limit", ticks)
	}
	checkGrace(t, log)
	if t.Failed() {
		b, _ := os.ReadFile(log)
		t.Logf("the program's record:\n%s", b)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// BenchmarkMPILatency prints the one-way 8-byte latency of each mode, in
// µs (the minimum over the ping-pong's five batches), with the load:
//
//	go test -run '^$' -bench MPILatency -benchtime 3x ./integration/
func BenchmarkMPILatency(b *testing.B) {
	f := hpcSetup(b)
	const iters = "20000"
	asRoot := root()
	modes := []struct {
		name  string
		slurm bool
		argv  []string
		env   []string
	}{
		{"bare_mpirun", false, append(mpirunArgs(asRoot), f.pingpong, iters), nil},
		{"wholejob_sandboxrun_mpirun", false, append(append([]string{f.bin, "--tmpfs", "/dev/shm", "--"}, mpirunArgs(true)...), f.pingpong, iters), nil},
		{"perrank_mpirun_preset_mpi", false, append(mpirunArgs(asRoot), f.bin, "--preset", "mpi", hostRootFlag(), "--", f.pingpong, iters), nil},
		{"bare_srun_pmix", true, []string{"srun", "--mpi=pmix", "-n", "2", f.pingpong, iters}, nil},
		{"perrank_srun_preset_mpi", true, []string{"srun", "--mpi=pmix", "-n", "2", f.bin, "--preset", "mpi", hostRootFlag(), "--", f.pingpong, iters}, nil},
		// For comparison: a private /dev/shm per rank, the TCP fallback.
		{"private_shm_tcp_fallback", false, append(mpirunArgs(asRoot), f.bin, "--share-net", "--share", "pid", "--share", "ipc",
			"--tmpfs", "/dev/shm", "--", f.pingpong, iters), []string{"OMPI_MCA_btl=self,vader,tcp"}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			if m.slurm {
				if ok, why := slurmUp(); !ok {
					b.Skip(why)
				}
			}
			best := math.Inf(1)
			for i := 0; i < b.N; i++ {
				best = math.Min(best, runPingpong(b, f, m.env, m.argv...).us)
			}
			b.ReportMetric(best, "µs/oneway")
			b.ReportMetric(0, "ns/op")
			b.Logf("%-28s %8.3f µs one way (load %s)", m.name, best, loadAvg())
		})
	}
}
