package bench

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"
)

// Fast checks of the table and chart code, for CI: no launches, no timing.

func TestParseHWM(t *testing.T) {
	status := "Name:\tbench.test\nVmPeak:\t  10000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n"
	if got := parseHWM(status); got != 5120<<10 {
		t.Errorf("parseHWM = %d, want %d", got, 5120<<10)
	}
	if got := parseHWM("VmRSS:\t1 kB\n"); got != 0 {
		t.Errorf("parseHWM without VmHWM = %d, want 0", got)
	}
	if vmHWM() == 0 {
		t.Error("vmHWM() = 0 in this process")
	}
}

func TestRunsIn(t *testing.T) {
	small := &row{bytes: kib}
	heavy := &row{bytes: 64 * mib}
	rare := &row{bytes: gib}
	var n [3]int
	for round := 0; round < 20; round++ {
		for i, r := range []*row{small, heavy, rare} {
			if runsIn(r, round, 20, 5) {
				n[i]++
			}
		}
	}
	if n != [3]int{20, 4, 2} {
		t.Errorf("rounds run (every, heavy, rare) = %v, want [20 4 2]", n)
	}
}

func TestSizeName(t *testing.T) {
	for n, want := range map[int]string{kib: "1 KiB", mib: "1 MiB", 64 * mib: "64 MiB", gib: "1 GiB"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestChart(t *testing.T) {
	bars := []bar{
		{label: "os/exec 3-instruction static ELF", v: ms(150 * time.Microsecond), group: groupBaseline},
		{label: "fork: fork.Fork(name) + Wait", v: 2.5, passes: []float64{2.4, 2.6}, group: groupNsfork},
		{label: "`bwrap --unshare-all` ≤ " + strings.Repeat("x", 100), v: 900, group: groupPeer},
	}
	img := drawChart(latencyChart("title"), bars)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Bounds(); b.Dx() < 400 || b.Dy() < 3*17 {
		t.Errorf("chart is %v, too small for 3 bars", b)
	}
	if l := chartLabel(bars[2].label, 64); len(l) != 64 || strings.ContainsAny(l, "`≤") {
		t.Errorf("chartLabel = %q: want 64 ASCII characters without backticks", l)
	}
	if img := drawChart(tputChart("t"), []bar{{label: "a, 1 worker", v: 300}, {label: "a, 2 workers", v: 500, group: 1}}); img.Bounds().Dy() < 2*17 {
		t.Errorf("throughput chart is %v", img.Bounds())
	}
	if got := msLabel(0.1); got != "100 us" {
		t.Errorf("msLabel(0.1) = %q", got)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median = %v, want 2.5", m)
	}
	if m := medianU([]uint64{5, 1, 3}); m != 3 {
		t.Errorf("medianU = %v, want 3", m)
	}
}
