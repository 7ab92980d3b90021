package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// BenchmarkPoolCallIdle measures a pooled call against how long its child
// waited for it. In make bench's table a pooled child waits a whole round
// (every other row runs once, about 1.4 s) before its call comes; a call
// every 100 ms (BenchmarkPoolCallSplit) finds one that waited a few hundred
// ms. Per sample, after the pause: a cold ForkIsolated(Default()) + Wait
// (the baseline, as in the table, where it is the row before), then
// Pool.Call of a no-op in a pool of one (its child idle since the previous
// call's refill), then the peer: a plain Go child started by os/exec, idle
// the same time in a blocking read on its locked main thread, woken by an
// 8-byte write and answering with its clock (no sandbox, no decoding,
// nothing run). The peer is what the machine charges any Go process for
// being woken after that idle; the call's excess over it is nsfork's.
// A fixed number of samples per pause (NSFORK_BENCH_IDLE_SAMPLES, 10):
// the pauses, not the timed parts, set the run time.
//
//	go test -run '^$' -bench PoolCallIdle ./bench/
func BenchmarkPoolCallIdle(b *testing.B) {
	samples := 10
	if v := os.Getenv("NSFORK_BENCH_IDLE_SAMPLES"); v != "" {
		fmt.Sscan(v, &samples)
	}
	cold := isolatedRun(sandbox.Default())
	for _, pause := range []time.Duration{100 * time.Millisecond, 1400 * time.Millisecond} {
		b.Run(fmt.Sprintf("idle-%v", pause), func(b *testing.B) {
			pool, err := fork.NewPool(sandbox.Default(), 1)
			if err != nil {
				b.Skip("NewPool: " + err.Error())
			}
			defer pool.Close()
			pp, err := startPingPong()
			if err != nil {
				b.Fatal(err)
			}
			defer pp.stop()
			var call, peer, base []time.Duration
			for range b.N {
				for range samples {
					time.Sleep(pause)
					t0 := time.Now()
					if err := cold(); err != nil {
						b.Fatal(err)
					}
					base = append(base, time.Since(t0))
					t0 = time.Now()
					if _, err := pool.Call(context.Background(), "noop"); err != nil {
						b.Fatal(err)
					}
					call = append(call, time.Since(t0))
					d, err := pp.ping()
					if err != nil {
						b.Fatal(err)
					}
					peer = append(peer, d)
				}
			}
			c, p, k := summarize(call).p50, summarize(peer).p50, summarize(base).p50
			b.ReportMetric(micros(c), "call-p50-µs")
			b.ReportMetric(micros(p), "peer-p50-µs")
			b.ReportMetric(micros(k), "cold-p50-µs")
			b.ReportMetric(float64(c)/float64(k), "x-cold")
			b.ReportMetric(float64(p)/float64(k), "peer-x-cold")
		})
	}
}

// pingPong is the peer child: started with bareEnv=pingpong, it answers
// each 8 bytes on its stdin with 8 on its stdout.
type pingPong struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out io.ReadCloser
}

func startPingPong() (*pingPong, error) {
	c := exec.Command("/proc/self/exe")
	c.Env = append(os.Environ(), bareEnv+"=pingpong")
	c.Stderr = os.Stderr
	in, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	p := &pingPong{cmd: c, in: in, out: out}
	if _, err := p.ping(); err != nil { // it is up and has run once
		p.stop()
		return nil, err
	}
	return p, nil
}

// ping writes 8 bytes and returns how long the answer took.
func (p *pingPong) ping() (time.Duration, error) {
	var buf [8]byte
	t0 := time.Now()
	if _, err := p.in.Write(buf[:]); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(p.out, buf[:]); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func (p *pingPong) stop() {
	p.in.Close()
	p.cmd.Wait()
}

// pingPongChild is the peer's side: a blocking read on its locked main
// thread (as a pooled child waits), an answer per 8 bytes, until EOF.
func pingPongChild() int {
	runtime.LockOSThread()
	var buf [8]byte
	for {
		if _, err := io.ReadFull(os.Stdin, buf[:]); err != nil {
			return 0
		}
		binary.LittleEndian.PutUint64(buf[:], uint64(time.Now().UnixNano()))
		if _, err := os.Stdout.Write(buf[:]); err != nil {
			return 1
		}
	}
}
