package bench

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkLaunch times every row. For a row with a baseline, each timed
// launch is preceded by one launch of the baseline with the timer stopped,
// and the ratio of the two p50s is reported as x-<baseline>: both sets of
// samples were taken side by side, under the same load.
//
// Metrics: p50-µs and p95-µs per launch, x-<baseline> (p50 over the
// baseline's p50, lower is faster), p50-MB/s for hand-off rows.
func BenchmarkLaunch(b *testing.B) {
	rs, byKey, err := rows()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rs {
		b.Run(r.key, func(b *testing.B) { benchRow(b, r, byKey[r.base]) })
	}
}

func benchRow(b *testing.B, r, base *row) {
	if r.skip != "" {
		b.Skip(r.skip)
	}
	if base != nil && base.skip != "" {
		base = nil
	}
	if r.bytes > 0 {
		b.SetBytes(r.bytes)
	}
	own := make([]time.Duration, 0, b.N)
	var ref []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if base != nil {
			b.StopTimer()
			d, err := base.measure()
			if err != nil {
				b.Fatalf("baseline %s: %v", base.key, err)
			}
			ref = append(ref, d)
			b.StartTimer()
		}
		d, err := r.measure()
		if err != nil {
			b.Fatal(err)
		}
		own = append(own, d)
	}
	b.StopTimer()
	s := summarize(own)
	b.ReportMetric(micros(s.p50), "p50-µs")
	b.ReportMetric(micros(s.p95), "p95-µs")
	if base != nil {
		b.ReportMetric(float64(s.p50)/float64(summarize(ref).p50), "x-"+base.key)
	}
	if r.bytes > 0 {
		b.ReportMetric(mbps(r.bytes, s.p50), "p50-MB/s")
	}
}

type summary struct {
	n        int
	p50, p95 time.Duration
}

// summarize returns nearest-rank percentiles of ds.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return summary{n: len(s), p50: rank(0.50), p95: rank(0.95)}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// mbps is megabytes (10^6, as in go test's MB/s) per second.
func mbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e6
}
