package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// BenchmarkStartHeldMemory: what a start into a new user namespace costs a
// caller that holds memory, fork's start (the child shares the caller's
// memory until its exec, the id maps written after it) against a bare
// re-exec through os/exec with the same clone flags and the maps written
// by the syscall package (a fork of the caller: its page tables copied,
// every page it holds copy-on-write afterwards), side by side, one each in
// turn. held is memory the caller allocated and wrote (4 KiB pages, no
// huge pages). Reported: each one's p50, the ratio, and the page faults
// the caller takes, and the time it spends, writing its held memory once
// after each start.
//
//	go test -run '^$' -bench StartHeldMemory ./bench/
func BenchmarkStartHeldMemory(b *testing.B) {
	opts := sandbox.Rootless()
	attr, err := sameFlags(opts)
	if err != nil {
		b.Fatal(err)
	}
	fork := isolatedRun(opts)
	bare := bareRun(attr)
	for _, held := range []struct {
		name  string
		bytes int
	}{{"held=0", 0}, {"held=256MiB", 256 << 20}} {
		b.Run(held.name, func(b *testing.B) {
			var mem []byte
			if held.bytes > 0 {
				mem, err = unix.Mmap(-1, 0, held.bytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
				if err != nil {
					b.Fatal(err)
				}
				defer unix.Munmap(mem)
				if err := unix.Madvise(mem, unix.MADV_NOHUGEPAGE); err != nil {
					b.Fatal(err)
				}
			}
			page := os.Getpagesize()
			var ownT, refT []time.Duration
			// touch writes every held page once and returns the faults
			// that took; its time goes to *ts.
			touch := func(ts *[]time.Duration) int64 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var r0, r1 syscall.Rusage
				syscall.Getrusage(unix.RUSAGE_THREAD, &r0)
				t0 := time.Now()
				for i := 0; i < len(mem); i += page {
					mem[i]++
				}
				if ts != nil {
					*ts = append(*ts, time.Since(t0))
				}
				syscall.Getrusage(unix.RUSAGE_THREAD, &r1)
				return r1.Minflt - r0.Minflt
			}
			touch(nil)
			debug.FreeOSMemory()
			var own, ref []time.Duration
			var ownF, refF int64
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				t0 := time.Now()
				if err := bare(); err != nil {
					b.Fatalf("bare re-exec: %v", err)
				}
				ref = append(ref, time.Since(t0))
				refF += touch(&refT)
				b.StartTimer()
				t0 = time.Now()
				if err := fork(); err != nil {
					b.Fatal(err)
				}
				own = append(own, time.Since(t0))
				b.StopTimer()
				ownF += touch(&ownT)
				b.StartTimer()
			}
			b.StopTimer()
			n := float64(len(own))
			b.ReportMetric(micros(summarize(own).p50), "p50-µs")
			b.ReportMetric(micros(summarize(ref).p50), "bare-p50-µs")
			b.ReportMetric(float64(summarize(own).p50)/float64(summarize(ref).p50), "x-bare")
			b.ReportMetric(float64(ownF)/n, "faults-after")
			b.ReportMetric(float64(refF)/n, "bare-faults-after")
			b.ReportMetric(micros(summarize(ownT).p50), "write-after-p50-µs")
			b.ReportMetric(micros(summarize(refT).p50), "bare-write-after-p50-µs")
		})
	}
}
