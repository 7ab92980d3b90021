package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// Throughput: launches per second of the key rows with one worker and with
// two workers launching at once, each for a fixed short window. The windows
// of all rows and both worker counts are interleaved (rows rotated, the
// order of one and two workers swapped every repetition), so both counts
// see the same load.

// tputMinRatio is the target: two workers launch at least 1.7 times
// as many children per second as one.
const tputMinRatio = 1.7

// A tputRow launches with worker w's runner; runners are safe to call from
// both workers at once.
type tputRow struct {
	key, label string
	run        [2]func() error
	skip       string
}

// tputRows picks the key rows out of the latency rows. fork.Fork gets one
// registered function per worker, ForkIsolated one Options per worker.
func tputRows(byKey map[string]*row) []*tputRow {
	var out []*tputRow
	from := func(key string) {
		r := byKey[key]
		if r == nil {
			return
		}
		t := &tputRow{key: key, label: r.label, skip: r.skip}
		t.run[0], t.run[1] = r.run, r.run
		out = append(out, t)
	}
	from("exec-tiny-elf")
	from(keyBare)
	if r := byKey["fork-Fork"]; r != nil {
		t := &tputRow{key: "fork-Fork", label: r.label, skip: r.skip}
		for w, f := range noopWorkers {
			t.run[w] = func() error {
				if err := fork.Fork(f.Name); err != nil {
					return err
				}
				return f.Wait()
			}
		}
		out = append(out, t)
	}
	if r := byKey["forkisolated-rootless"]; r != nil {
		t := &tputRow{key: r.key, label: r.label, skip: r.skip}
		for w := range t.run {
			t.run[w] = isolatedRun(sandbox.Rootless())
		}
		out = append(out, t)
	}
	from("sandboxrun")
	from(keyBwrap)
	from("unshare-cli")
	return out
}

// tputSamples holds launches per second per row, per pass, per worker
// count (index 0: one worker, 1: two).
type tputSamples map[*tputRow][][2][]float64

// measureTput runs reps repetitions of every active row's two windows and
// records them under pass.
func measureTput(rs []*tputRow, samples tputSamples, pass, passes, reps int, window time.Duration) error {
	var active []*tputRow
	for _, r := range rs {
		if r.skip == "" {
			active = append(active, r)
			if samples[r] == nil {
				samples[r] = make([][2][]float64, passes)
			}
		}
	}
	for rep := 0; rep < reps; rep++ {
		for j := range active {
			r := active[(rep+j)%len(active)]
			order := []int{1, 2}
			if (rep+pass)%2 == 1 {
				order = []int{2, 1}
			}
			for _, workers := range order {
				rate, err := launchRate(r.run, workers, window)
				if err != nil {
					return fmt.Errorf("%s, %d workers: %w", r.label, workers, err)
				}
				s := &samples[r][pass][workers-1]
				*s = append(*s, rate)
			}
		}
	}
	return nil
}

// launchRate starts workers goroutines that launch one child after another
// until window has passed, and returns the completed launches per second
// over the time until the last one finished.
func launchRate(run [2]func() error, workers int, window time.Duration) (float64, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	start := time.Now()
	deadline := start.Add(window)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := run[w](); err != nil {
					errs[w] = err
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(n.Load()) / el.Seconds(), nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTput(w io.Writer, rs []*tputRow, samples tputSamples, passes, reps int, window time.Duration) {
	fmt.Fprintf(w, "#### Launches per second, 1 and 2 workers\n\n")
	fmt.Fprintf(w, "Each cell: the median over all windows, then each pass's median in parentheses. A window is %s of back-to-back launches, %d windows per row, worker count and pass, interleaved with the other rows.\n\n", window, reps)
	hdr := "| Launch | 1 worker, launches/s | 2 workers, launches/s | 2 workers / 1 worker | Target |"
	fmt.Fprintln(w, hdr)
	fmt.Fprintln(w, "|---|---:|---:|---:|---|")
	for _, r := range rs {
		if r.skip != "" {
			fmt.Fprintf(w, "| %s | – | – | – | skipped: %s |\n", r.label, cell(r.skip))
			continue
		}
		var all [2][]float64
		var per [2][]string
		var ratios []string
		for p := 0; p < passes; p++ {
			for k := 0; k < 2; k++ {
				all[k] = append(all[k], samples[r][p][k]...)
				per[k] = append(per[k], fmt.Sprintf("%.0f", median(samples[r][p][k])))
			}
			ratios = append(ratios, fmt.Sprintf("%.2fx", median(samples[r][p][1])/median(samples[r][p][0])))
		}
		one, two := median(all[0]), median(all[1])
		x := two / one
		paren := func(ss []string) string {
			if len(ss) < 2 {
				return ""
			}
			return " (" + strings.Join(ss, " / ") + ")"
		}
		fmt.Fprintf(w, "| %s | %.0f%s | %.0f%s | %.2fx%s | %s |\n", r.label, one, paren(per[0]), two, paren(per[1]),
			x, paren(ratios), verdict(fmt.Sprintf("≥ %.2fx", tputMinRatio), x >= tputMinRatio))
	}
	fmt.Fprintln(w)
}
