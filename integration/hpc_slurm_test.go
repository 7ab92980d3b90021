package integration

// Sandboxes under Slurm: signals before the kill, the time limit, a
// sandbox per rank, the exit code. .ci/run runs TimeLimit on its own
// (-run '^TestSlurm$/^TimeLimit$').

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/testreq"
)

func TestSlurm(t *testing.T) {
	f := hpcSetup(t)
	ok, why := slurmUp()
	require(t, ok, why)
	t.Run("SignalsBeforeKill", func(t *testing.T) { t.Parallel(); slurmSignals(t, f) })
	t.Run("TimeLimit", func(t *testing.T) { t.Parallel(); slurmTimeLimit(t, f) })
	t.Run("PerRank", func(t *testing.T) {
		srun := []string{"srun", "--mpi=pmix", "-n", "2", "--time=5"}
		b := runPingpong(t, f, nil, append(srun, f.pingpong, pingpongIters)...)
		t.Logf("bare srun: %.3f µs one way", b.us)
		p := runPingpong(t, f, nil, append(srun, f.bin, "--preset", "mpi", hostRootFlag(), "--", f.pingpong, pingpongIters)...)
		checkLatency(t, "srun sandboxrun --preset mpi", p)
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
	testreq.OptIn(t, "NSFORK_SLURM_TIMELIMIT", "waits 75-90 s for Slurm's time limit (CI runs it once, beside the suite)")
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
