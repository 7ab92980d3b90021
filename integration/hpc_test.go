package integration

// HPC: MPI ranks and Slurm job steps in sandboxes. An MPI ping-pong
// (testdata/mpi/pingpong.c, compiled here with mpicc) runs bare and in each
// mode: the whole job in one sandbox (sandboxrun -- mpirun ...), one
// sandbox per rank under mpirun and under srun (--preset mpi). Every run
// is restricted to OpenMPI's self and vader (shared-memory) transports, so
// that completing proves shared memory carried the messages; the latency
// bound is generous (the machine is shared), BenchmarkMPILatency prints the
// figures. The Slurm tests need a running Slurm (scripts/slurm-up.sh;
// they use its default partition, one node); the time-limit test waits
// 75-90 s for slurmctld's 30 s enforcement cycle and runs only with
// NSFORK_SLURM_TIMELIMIT=1.

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
// sandboxrun, once per test binary. The directory is removed once every
// test of the binary has run (atExit).
func hpcSetup(tb testing.TB) *hpcFixture {
	tb.Helper()
	for _, b := range []string{"mpicc", "mpirun"} {
		if _, err := exec.LookPath(b); err != nil {
			hpcRequire(tb, false, b+" not found (apt-get install openmpi-bin libopenmpi-dev)")
		}
	}
	hpcOnce.Do(func() {
		hpcFix, hpcErr = newHPCFixture()
	})
	if hpcErr != nil {
		tb.Fatalf("HPC fixture: %v", hpcErr)
	}
	return hpcFix
}

func newHPCFixture() (*hpcFixture, error) {
	dir, err := os.MkdirTemp("", "nsfork-hpc-")
	if err != nil {
		return nil, err
	}
	atExit(func() { os.RemoveAll(dir) })
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
	f.bin, err = sandboxrunIn(dir)
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
