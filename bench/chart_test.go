package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"golang.org/x/sys/unix"
)

// The README's charts: one horizontal bar per latency row, its p50 over
// all passes on a log scale, with a mark at each pass's p50; and two bars
// per throughput row, launches per second with one and two workers. Drawn
// with the standard library and x/image's 7x13 bitmap font only.

// A bar is one row of a chart.
type bar struct {
	label  string
	v      float64   // the bar's length, on a log scale
	passes []float64 // each pass's value, drawn as marks
	group  int       // barColors index
}

// A chart is what a set of bars means.
type chart struct {
	title  string
	legend []string             // one name per group used
	axis   func(float64) string // a decade's label
	value  func(float64) string // a bar's label
}

func latencyChart(title string) chart {
	return chart{title: title, legend: []string{"baselines", "nsfork", "other tools"}, axis: msLabel,
		value: func(ms float64) string { return strings.TrimSpace(dur(time.Duration(ms * float64(time.Millisecond)))) }}
}

func tputChart(title string) chart {
	return chart{title: title, legend: []string{"1 worker", "2 workers"},
		axis:  func(v float64) string { return fmt.Sprintf("%g/s", v) },
		value: func(v float64) string { return fmt.Sprintf("%.0f/s", v) }}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

const (
	groupBaseline = iota // floors and bare re-execs, raw pipes
	groupNsfork          // fork.* and sandboxrun
	groupPeer            // other tools
)

var barColors = []color.RGBA{
	groupBaseline: {0x9a, 0x9a, 0x9a, 0xff},
	groupNsfork:   {0x2f, 0x6f, 0xb5, 0xff},
	groupPeer:     {0xe0, 0x8a, 0x2c, 0xff},
}

// chartBars makes one bar per row that ran, leaving out the rows that only
// repeat another row against a second baseline.
func chartBars(rs []*row, samples []map[*row][]time.Duration) []bar {
	var bs []bar
	for _, r := range rs {
		if r.skip != "" || strings.Contains(r.label, "(same row)") {
			continue
		}
		s := summarize(merged(samples, r))
		if s.n == 0 {
			continue
		}
		b := bar{label: chartName(r), v: ms(s.p50), group: groupOf(r)}
		for _, ps := range samples {
			if len(ps[r]) > 0 {
				b.passes = append(b.passes, ms(summarize(ps[r]).p50))
			}
		}
		bs = append(bs, b)
	}
	return bs
}

// tputBars makes two bars per throughput row that ran: one worker, two.
func tputBars(rs []*tputRow, samples tputSamples) []bar {
	var bs []bar
	for _, r := range rs {
		if r.skip != "" || samples[r] == nil {
			continue
		}
		for k, name := range []string{"1 worker", "2 workers"} {
			label, ok := tputNames[r.key]
			if !ok {
				label = chartName(&row{key: r.key, label: r.label})
			}
			b := bar{label: label + ", " + name, group: k}
			var all []float64
			for _, p := range samples[r] {
				all = append(all, p[k]...)
				b.passes = append(b.passes, median(p[k]))
			}
			b.v = median(all)
			bs = append(bs, b)
		}
	}
	return bs
}

func groupOf(r *row) int {
	switch {
	case strings.HasPrefix(r.label, "fork:"), strings.HasPrefix(r.key, "sandboxrun"), strings.HasPrefix(r.key, "pool-"):
		return groupNsfork
	case strings.HasPrefix(r.label, "bare Go"), strings.HasPrefix(r.label, "raw pipe"), strings.HasPrefix(r.label, "os/exec"):
		return groupBaseline
	}
	return groupPeer
}

// chartNames shortens the labels too long for the chart.
var chartNames = map[string]string{
	"bare-root-flags":       "bare Go re-exec, root preset's flags (pid+mount+uts+ipc+net)",
	"bare-rootless-flags":   "bare Go re-exec, rootless preset's flags (user+pid+mount+uts+ipc)",
	"sandboxrun":            "sandboxrun --unshare-net --read-only --proc --dev -- busybox true",
	keyBwrap:                "bwrap --unshare-all --ro-bind / / --dev --proc: busybox true",
	"forkisolated-norootfs": "fork: StartCommand(Default(), busybox true), host root",
	"forkisolated-rootfs":   "fork: the same in a read-only busybox rootfs, /proc, /dev",
}

// tputNames leave room for ", 2 workers".
var tputNames = map[string]string{
	"sandboxrun": "sandboxrun (defaults) -- busybox true",
	keyBwrap:     "bwrap --unshare-all ... busybox true",
}

func chartName(r *row) string {
	if s, ok := chartNames[r.key]; ok {
		return s
	}
	s := strings.ReplaceAll(r.label, "sandbox.", "")
	s = strings.ReplaceAll(s, " + Wait", "")
	return strings.ReplaceAll(s, "capabilities", "caps")
}

func chartTitle(what string) string {
	var un unix.Utsname
	unix.Uname(&un)
	return fmt.Sprintf("nsfork %s, log scale - as %s, Linux %s, %d CPUs, %s, %s",
		what, whoAmI(), unix.ByteSliceToString(un.Release[:]), runtime.NumCPU(), runtime.Version(), time.Now().Format("2006-01-02"))
}

// chartLabel fits a row label into the 7x13 font: ASCII only, no markdown
// backticks, at most max characters.
func chartLabel(s string, max int) string {
	s = strings.ReplaceAll(s, "`", "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

// msLabel names a decade on the axis.
func msLabel(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%g s", ms/1000)
	case ms >= 1:
		return fmt.Sprintf("%g ms", ms)
	}
	return fmt.Sprintf("%g us", ms*1000)
}

// writeChart draws bars as a PNG in path.
func writeChart(path string, c chart, bars []bar) error {
	img := drawChart(c, bars)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func drawChart(c chart, bars []bar) *image.RGBA {
	title := c.title
	const (
		charW, lineH = 7, 13
		maxLabel     = 66
		rowH         = 17
		barH         = 11
		margin       = 10
		plotW        = 330
		valueW       = 9 * charW
		top          = margin + 3*rowH
	)
	labelW := 0
	for _, b := range bars {
		labelW = max(labelW, len(chartLabel(b.label, maxLabel))*charW)
	}
	plotX := margin + labelW + margin
	width := plotX + plotW + margin + valueW + margin
	height := top + len(bars)*rowH + 2*rowH + margin
	width = max(width, margin+len(title)*charW+margin)

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	ink := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grid := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	text := func(x, y int, s string, c color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	fill := func(r image.Rectangle, c color.Color) {
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}

	// The decades the bars span.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range bars {
		if b.v > 0 {
			lo, hi = math.Min(lo, b.v), math.Max(hi, b.v)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	xOf := func(v float64) int {
		if v <= 0 {
			return plotX
		}
		f := (math.Log10(v) - d0) / (d1 - d0)
		return plotX + int(math.Round(f*plotW))
	}

	text(margin, margin+lineH-2, title, ink)
	legendY := margin + rowH + lineH - 2
	x := margin
	for i, name := range c.legend {
		fill(image.Rect(x, legendY-barH+2, x+barH, legendY+1), barColors[i])
		text(x+barH+4, legendY, name, ink)
		x += barH + 4 + len(name)*charW + 16
	}
	fill(image.Rect(x, legendY-barH+2, x+2, legendY+1), ink)
	text(x+8, legendY, "each pass's figure", ink)

	bottom := top + len(bars)*rowH
	for d := d0; d <= d1; d++ {
		gx := plotX + int(math.Round((d-d0)/(d1-d0)*plotW))
		fill(image.Rect(gx, top-4, gx+1, bottom+2), grid)
		s := c.axis(math.Pow(10, d))
		text(gx-len(s)*charW/2, bottom+lineH+2, s, ink)
	}
	for i, b := range bars {
		y := top + i*rowH
		lbl := chartLabel(b.label, maxLabel)
		text(plotX-margin-len(lbl)*charW, y+lineH-2, lbl, ink)
		x1 := max(xOf(b.v), plotX+1)
		fill(image.Rect(plotX, y+1, x1, y+1+barH), barColors[b.group])
		for _, p := range b.passes {
			px := min(max(xOf(p), plotX), plotX+plotW)
			fill(image.Rect(px, y-1, px+2, y+barH+3), ink)
		}
		text(plotX+plotW+margin, y+lineH-2, c.value(b.v), ink)
	}
	fill(image.Rect(plotX, top-4, plotX+1, bottom+2), ink)
	return img
}
