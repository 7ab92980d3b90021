package bench

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	// The pooled child's clock when its function runs: CLOCK_MONOTONIC is
	// the same in the caller and in the child.
	fork.RegisterFunc("monotonic", monotonic)
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// BenchmarkPoolCallSplit splits Pool.Call's call-to-result in two at the
// moment the function starts in the child, read from the monotonic clock
// both sides share: call-µs is the call until the function runs (the
// caller's encoding and write, the child waking, reading and decoding the
// call), result-µs the function's return until Call returns (the child's
// encoding and write, the caller waking and decoding). A 100 ms pause before
// each call lets the refill of the previous one end on an idle machine (a
// pool of 4), so that neither half shares the CPUs with a child starting
// up; under load a refill takes longer and a call may wait for a child.
//
// The sub-benchmarks separate one cost of the caller's: Go's syscall
// package forks (no CLONE_VM) to start a child in a new user namespace, and
// after such a fork every page the caller writes first takes a
// copy-on-write fault. With Default() (a user namespace) the pool's own
// refill of the previous call is such a fork; with HostRoot() (none, root
// only) a refill is a vfork, and the pause may begin with a spawn of
// /bin/true with CLONE_NEWUSER (a fork) or without (a vfork).
//
//	go test -run '^$' -bench PoolCallSplit ./bench/
func BenchmarkPoolCallSplit(b *testing.B) {
	for _, c := range []struct {
		name  string
		opts  func() *sandbox.Options
		spawn uintptr // a spawn of /bin/true before each call, with these clone flags
		none  bool    // no spawn
	}{
		{"default", sandbox.Default, 0, true},
		{"hostroot", sandbox.HostRoot, 0, true},
		{"hostroot+vfork", sandbox.HostRoot, 0, false},
		{"hostroot+userns-fork", sandbox.HostRoot, syscall.CLONE_NEWUSER, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool, err := fork.NewPool(c.opts(), 4)
			if err != nil {
				b.Skip("NewPool: " + err.Error())
			}
			defer pool.Close()
			var call, result, total []time.Duration
			for b.Loop() {
				b.StopTimer()
				if !c.none {
					spawnTrue(b, c.spawn)
				}
				time.Sleep(100 * time.Millisecond)
				b.StartTimer()
				t0 := monotonic()
				res, err := pool.Call(context.Background(), "monotonic")
				t2 := monotonic()
				if err != nil {
					b.Fatal(err)
				}
				t1 := res[0].(int64)
				call = append(call, time.Duration(t1-t0))
				result = append(result, time.Duration(t2-t1))
				total = append(total, time.Duration(t2-t0))
			}
			b.ReportMetric(micros(summarize(total).p50), "p50-µs")
			b.ReportMetric(micros(summarize(call).p50), "call-µs")
			b.ReportMetric(micros(summarize(result).p50), "result-µs")
		})
	}
}

// spawnTrue runs /bin/true with the clone flags given: none is a vfork
// (CLONE_VM) in Go's syscall package, CLONE_NEWUSER a fork.
func spawnTrue(b *testing.B, flags uintptr) {
	c := stdio(exec.Command("/bin/true"))
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	if err := c.Run(); err != nil {
		b.Fatal(err)
	}
}
