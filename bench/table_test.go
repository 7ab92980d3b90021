package bench

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPrintTable runs every row in a fixed interleaved order (one launch per
// row per round, the order rotated by one each round, the 64 MiB rows every
// NSFORK_BENCH_HEAVY_EVERY-th round) and prints a markdown table with p50,
// p95, throughput, the ratio to each row's baseline and whether the
// issues' targets are met. It only reports; it never fails on a number.
//
//	NSFORK_BENCH_TABLE=1     run at all (make bench sets it)
//	NSFORK_BENCH_ROUNDS=150  rounds
//	NSFORK_BENCH_HEAVY_EVERY=5
func TestPrintTable(t *testing.T) {
	if os.Getenv("NSFORK_BENCH_TABLE") != "1" {
		t.Skip("set NSFORK_BENCH_TABLE=1 (make bench does) to run the measurements and print the table")
	}
	rounds := envInt(t, "NSFORK_BENCH_ROUNDS", 150)
	heavyEvery := envInt(t, "NSFORK_BENCH_HEAVY_EVERY", 5)
	rs, byKey, err := rows()
	if err != nil {
		t.Fatal(err)
	}
	var active []*row
	for _, r := range rs {
		if r.skip == "" {
			active = append(active, r)
		}
	}
	load0 := loadavg()
	start := time.Now()
	samples := map[*row][]time.Duration{}
	for round := 0; round < rounds; round++ {
		for j := range active {
			r := active[(round+j)%len(active)]
			if r.bytes >= 16*mib && round%heavyEvery != 0 {
				continue
			}
			t0 := time.Now()
			err := r.run()
			d := time.Since(t0)
			if err != nil {
				t.Fatalf("%s: %v", r.label, err)
			}
			samples[r] = append(samples[r], d)
		}
	}
	elapsed := time.Since(start)
	printTable(os.Stdout, rs, byKey, samples, rounds, heavyEvery, load0, loadavg(), elapsed)
}

func printTable(w io.Writer, rs []*row, byKey map[string]*row, samples map[*row][]time.Duration,
	rounds, heavyEvery int, load0, load1 string, elapsed time.Duration) {
	who := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(who); err == nil {
		who = u.Username + ", uid " + who
	} else {
		who = "uid " + who
	}
	var un unix.Utsname
	unix.Uname(&un)
	fmt.Fprintf(w, "\n### As %s\n\n", who)
	fmt.Fprintf(w, "Linux %s %s, %d CPUs, %s. %d rounds (64 MiB rows every %d), %s in all; load average %s before, %s after.\n\n",
		unix.ByteSliceToString(un.Release[:]), runtime.GOARCH, runtime.NumCPU(), runtime.Version(),
		rounds, heavyEvery, elapsed.Round(time.Second), load0, load1)
	fmt.Fprintln(w, "| Launch | n | p50 | p95 | MB/s (p50) | Ratio (p50) | Compared with | Target |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|---|")
	for _, r := range rs {
		if r.skip != "" {
			fmt.Fprintf(w, "| %s | – | – | – | – | – | – | skipped: %s |\n", r.label, cell(r.skip))
			continue
		}
		s := summarize(samples[r])
		rate, ratio, vs, target := "", "", "", ""
		if r.bytes > 0 {
			rate = fmt.Sprintf("%.0f", mbps(r.bytes, s.p50))
		}
		var x float64
		if b := byKey[r.base]; b != nil && b.skip == "" {
			x = float64(s.p50) / float64(summarize(samples[b]).p50)
			ratio = fmt.Sprintf("%.2fx", x)
			vs = b.label
		} else if r.base == "" {
			ratio = "1.00x"
		}
		var goals []string
		if r.maxRatio > 0 {
			goals = append(goals, verdict(fmt.Sprintf("≤ %.2fx", r.maxRatio), x > 0 && x <= r.maxRatio))
		}
		if r.minMBps > 0 {
			goals = append(goals, verdict(fmt.Sprintf("≥ %.0f MB/s", r.minMBps), mbps(r.bytes, s.p50) >= r.minMBps))
		}
		target = strings.Join(goals, "; ")
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", r.label, s.n, dur(s.p50), dur(s.p95), rate, ratio, vs, target)
	}
	fmt.Fprintln(w)
}

func verdict(goal string, met bool) string {
	if met {
		return goal + ": met"
	}
	return goal + ": **missed**"
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

func dur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.3f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
