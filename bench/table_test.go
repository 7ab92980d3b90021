package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPrintTable measures everything twice in one run and prints markdown
// tables. A pass runs every row in a fixed interleaved order (one launch per
// row per round, the order rotated by one each round, the 64 MiB rows every
// NSFORK_BENCH_HEAVY_EVERY-th round, the 1 GiB rows in the first and last
// round only), then the launches-per-second windows with one and two
// workers, then the peak RSS probes. The latency table gives p50 and p95
// over both passes and each pass's p50, the ratio to each row's baseline
// and whether the issues' targets are met. It only reports; it never fails
// on a number.
//
//	NSFORK_BENCH_TABLE=1       run at all (make bench sets it)
//	NSFORK_BENCH_PASSES=2      passes
//	NSFORK_BENCH_ROUNDS=80     latency rounds per pass
//	NSFORK_BENCH_HEAVY_EVERY=5
//	NSFORK_BENCH_TPUT_MS=300   one throughput window
//	NSFORK_BENCH_TPUT_REPS=3   windows per row, worker count and pass
//	NSFORK_BENCH_RSS_ROUNDS=10 children per peak RSS row and pass
//	NSFORK_BENCH_ONLY=regexp   only the latency rows whose key matches (a
//	                           diagnosis: fewer rows, shorter rounds, so
//	                           not the table's conditions)
//	NSFORK_BENCH_MD=file       also append the tables to file
//	NSFORK_BENCH_PNG=file.png  also draw the latency p50s as a PNG chart,
//	                           and launches per second in file-throughput.png
func TestPrintTable(t *testing.T) {
	if os.Getenv("NSFORK_BENCH_TABLE") != "1" {
		t.Skip("set NSFORK_BENCH_TABLE=1 (make bench does) to run the measurements and print the table")
	}
	passes := envInt(t, "NSFORK_BENCH_PASSES", 2)
	rounds := envInt(t, "NSFORK_BENCH_ROUNDS", 80)
	heavyEvery := envInt(t, "NSFORK_BENCH_HEAVY_EVERY", 5)
	window := time.Duration(envInt(t, "NSFORK_BENCH_TPUT_MS", 300)) * time.Millisecond
	tputReps := envInt(t, "NSFORK_BENCH_TPUT_REPS", 3)
	rssRounds := envInt(t, "NSFORK_BENCH_RSS_ROUNDS", 10)
	only, err := regexp.Compile(os.Getenv("NSFORK_BENCH_ONLY")) // empty: every row
	if err != nil {
		t.Fatalf("NSFORK_BENCH_ONLY: %v", err)
	}
	rs, byKey, err := rows()
	if err != nil {
		t.Fatal(err)
	}
	tr := tputRows(byKey)
	ps := rssProbes(byKey)
	var active []*row
	for _, r := range rs {
		if r.skip == "" && only.MatchString(r.key) {
			active = append(active, r)
		}
	}
	load0 := loadavg()
	start := time.Now()
	samples := make([]map[*row][]time.Duration, passes)
	tput := tputSamples{}
	rss := rssSamples{}
	for pass := range passes {
		samples[pass] = map[*row][]time.Duration{}
		for round := 0; round < rounds; round++ {
			for j := range active {
				r := active[(round+j)%len(active)]
				if !runsIn(r, round, rounds, heavyEvery) {
					continue
				}
				d, err := r.measure()
				if err != nil {
					t.Fatalf("%s: %v", r.label, err)
				}
				samples[pass][r] = append(samples[pass][r], d)
			}
		}
		if err := measureTput(tr, tput, pass, passes, tputReps, window); err != nil {
			t.Fatal(err)
		}
		if err := measureRSS(ps, rss, pass, passes, rssRounds); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)

	var md bytes.Buffer
	printTable(&md, rs, byKey, samples, rounds, heavyEvery, load0, loadavg(), elapsed)
	printTput(&md, tr, tput, passes, tputReps, window)
	printRSS(&md, ps, rss, passes, rssRounds)
	os.Stdout.Write(md.Bytes())
	if f := os.Getenv("NSFORK_BENCH_MD"); f != "" {
		if err := appendFile(f, md.Bytes()); err != nil {
			t.Error(err)
		}
	}
	if f := os.Getenv("NSFORK_BENCH_PNG"); f != "" {
		if err := writeChart(f, latencyChart(chartTitle("launch latency, p50")), chartBars(rs, samples)); err != nil {
			t.Error(err)
		}
		tf := strings.TrimSuffix(f, ".png") + "-throughput.png"
		if err := writeChart(tf, tputChart(chartTitle("launches per second")), tputBars(tr, tput)); err != nil {
			t.Error(err)
		}
	}
}

// runsIn reports whether r runs in round (of rounds) of a pass.
func runsIn(r *row, round, rounds, heavyEvery int) bool {
	switch {
	case r.bytes >= rareBytes:
		return round == 0 || round == rounds-1
	case r.bytes >= heavyBytes:
		return round%heavyEvery == 0
	}
	return true
}

func appendFile(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// merged is every pass's samples of r.
func merged(samples []map[*row][]time.Duration, r *row) []time.Duration {
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s[r]...)
	}
	return all
}

func whoAmI() string {
	who := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(who); err == nil {
		return u.Username + ", uid " + who
	}
	return "uid " + who
}

func printTable(w io.Writer, rs []*row, byKey map[string]*row, samples []map[*row][]time.Duration,
	rounds, heavyEvery int, load0, load1 string, elapsed time.Duration) {
	passes := len(samples)
	var un unix.Utsname
	unix.Uname(&un)
	fmt.Fprintf(w, "\n### As %s\n\n", whoAmI())
	fmt.Fprintf(w, "Linux %s %s, %d CPUs, %s. %d passes in one run, each: %d latency rounds (64 MiB rows every %d, 1 GiB rows in the first and last), the launches-per-second windows, the peak RSS children; %s in all; load average %s before, %s after.\n\n",
		unix.ByteSliceToString(un.Release[:]), runtime.GOARCH, runtime.NumCPU(), runtime.Version(),
		passes, rounds, heavyEvery, elapsed.Round(time.Second), load0, load1)
	fmt.Fprintf(w, "#### Latency\n\n")
	fmt.Fprintf(w, "p50 and p95 over both passes; each pass's p50 beside them; the ratio is of the p50s over both passes, each pass's ratio in parentheses.\n\n")
	var passCols, passAlign string
	for p := 1; p <= passes; p++ {
		passCols += fmt.Sprintf(" p50 pass %d |", p)
		passAlign += "---:|"
	}
	fmt.Fprintf(w, "| Launch | n | p50 | p95 |%s MB/s (p50) | Ratio (p50) | Compared with | Target |\n", passCols)
	fmt.Fprintf(w, "|---|---:|---:|---:|%s---:|---:|---|---|\n", passAlign)
	for _, r := range rs {
		if r.skip != "" {
			fmt.Fprintf(w, "| %s | – | – | – |%s – | – | – | skipped: %s |\n", r.label, strings.Repeat(" – |", passes), cell(r.skip))
			continue
		}
		s := summarize(merged(samples, r))
		var perPass string
		for p := range passes {
			perPass += " " + dur(summarize(samples[p][r]).p50) + " |"
		}
		rate, ratio, vs := "", "", ""
		if r.bytes > 0 {
			rate = fmt.Sprintf("%.0f", mbps(r.bytes, s.p50))
			if m := mbps(r.bytes, s.p50); m < 10 {
				rate = fmt.Sprintf("%.2f", m)
			}
		}
		var x float64
		if b := byKey[r.base]; b != nil && b.skip == "" {
			x = float64(s.p50) / float64(summarize(merged(samples, b)).p50)
			ratio = fmt.Sprintf("%.2fx", x)
			if passes > 1 {
				var per []string
				for p := range passes {
					per = append(per, fmt.Sprintf("%.2fx", float64(summarize(samples[p][r]).p50)/float64(summarize(samples[p][b]).p50)))
				}
				ratio += " (" + strings.Join(per, ", ") + ")"
			}
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
		if r.maxP50 > 0 {
			goals = append(goals, verdict(fmt.Sprintf("< %s", r.maxP50), s.p50 < r.maxP50))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s |%s %s | %s | %s | %s |\n", r.label, s.n, dur(s.p50), dur(s.p95), perPass, rate, ratio, vs, strings.Join(goals, "; "))
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
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
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
