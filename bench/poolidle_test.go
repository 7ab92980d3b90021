package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/sealedexe"
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
// nothing run), and the RPC peer (poolrpc_test.go: the same with nsfork's
// call frame decoded, the function called through reflect, its results
// encoded); both run from an in-memory copy of this binary, as pooled
// children do (a Go child run from the binary's file wakes up to twice as
// slowly here: BenchmarkPoolCallIsolation). The call and the two peers run
// in a rotating order. The peers are what the machine charges a Go process
// for being woken after that idle; the call's excess over them is nsfork's
// call machinery, not the sandbox. In the busy variant
// the pause is spent in cold starts, as a table round spends it.
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
	for _, pc := range []struct {
		pause time.Duration
		busy  bool // the pause is spent in cold starts, as in the table
	}{{100 * time.Millisecond, false}, {1400 * time.Millisecond, false}, {1400 * time.Millisecond, true}} {
		pause := pc.pause
		name := "idle"
		if pc.busy {
			name = "busy"
		}
		b.Run(fmt.Sprintf("%s-%v", name, pause), func(b *testing.B) {
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
			rp, err := startRPC(peerOpts{memfd: true})
			if err != nil {
				b.Fatal(err)
			}
			defer rp.stop()
			var call, peer, rpc, base []time.Duration
			for range b.N {
				for range samples {
					if pc.busy {
						for end := time.Now().Add(pause); time.Now().Before(end); {
							if err := cold(); err != nil {
								b.Fatal(err)
							}
						}
					} else {
						time.Sleep(pause)
					}
					t0 := time.Now()
					if err := cold(); err != nil {
						b.Fatal(err)
					}
					base = append(base, time.Since(t0))
					// In a rotating order: the first after the cold
					// start shares the CPUs with the end of its sandbox.
					for j := range 3 {
						var d time.Duration
						switch (len(base) + j) % 3 {
						case 0:
							t0 = time.Now()
							if _, err := pool.Call(context.Background(), "noop"); err != nil {
								b.Fatal(err)
							}
							call = append(call, time.Since(t0))
						case 1:
							if d, err = pp.ping(); err != nil {
								b.Fatal(err)
							}
							peer = append(peer, d)
						case 2:
							if d, err = rp.call("noop"); err != nil {
								b.Fatal(err)
							}
							rpc = append(rpc, d)
						}
					}
				}
			}
			c, p, k, r := summarize(call).p50, summarize(peer).p50, summarize(base).p50, summarize(rpc).p50
			b.ReportMetric(micros(c), "call-p50-µs")
			b.ReportMetric(micros(p), "peer-p50-µs")
			b.ReportMetric(micros(k), "cold-p50-µs")
			b.ReportMetric(float64(c)/float64(k), "x-cold")
			b.ReportMetric(float64(p)/float64(k), "peer-x-cold")
			b.ReportMetric(micros(r), "rpc-p50-µs")
			b.ReportMetric(float64(r)/float64(k), "rpc-x-cold")
		})
	}
}

// peerProc is a peer child (bareEnv=pingpong: 8 bytes back for 8;
// bareEnv=rpc: poolrpc_test.go), started by os/exec.
type peerProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out io.ReadCloser
}

func startPingPong() (*peerProc, error) {
	return startPeer("pingpong", peerOpts{memfd: true}, func(p *peerProc) error { _, err := p.ping(); return err })
}

// peerOpts say how a peer child starts: in a new user and pid namespace
// (pidns), over one unix stream socket instead of two pipes (sock), exec'd
// from a sealed in-memory copy of this binary instead of its file (memfd,
// as a pooled child is: fork/selfexe_linux.go), exiting right after its
// answer to the first call after the warm-up one (once, as a pooled child
// exits after its call).
type peerOpts struct{ pidns, sock, memfd, once bool }

// startPeer starts the peer child mode as o says and returns it once
// first(p), its first exchange, is done.
func startPeer(mode string, o peerOpts, first func(*peerProc) error) (*peerProc, error) {
	exe := "/proc/self/exe"
	if o.memfd {
		var err error
		if exe, err = memfdSelf(); err != nil {
			return nil, err
		}
	}
	c := exec.Command(exe)
	c.Env = append(os.Environ(), bareEnv+"="+mode)
	if o.once {
		c.Env = append(c.Env, peerOnceEnv+"=1")
	}
	c.Stderr = os.Stderr
	if o.pidns {
		c.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		}
	}
	p := &peerProc{cmd: c}
	if o.sock {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		syscall.SetNonblock(fds[0], true)
		mine, theirs := os.NewFile(uintptr(fds[0]), "peer"), os.NewFile(uintptr(fds[1]), "peer-child")
		defer theirs.Close()
		c.ExtraFiles = []*os.File{theirs}
		c.Env = append(c.Env, peerFDEnv+"=3")
		p.in, p.out = mine, mine
	} else {
		var err error
		if p.in, err = c.StdinPipe(); err != nil {
			return nil, err
		}
		if p.out, err = c.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	if err := c.Start(); err != nil {
		p.in.Close()
		return nil, err
	}
	if err := first(p); err != nil { // it is up and has run once
		p.stop()
		return nil, err
	}
	return p, nil
}

// memfdSelf returns a path to a sealed copy of this binary in memory, made
// once, as fork makes it for its pooled children.
var memfdSelf = sync.OnceValues(sealedexe.Make)

// peerOnceEnv tells an RPC peer child to exit after its second answer.
const peerOnceEnv = "NSFORK_BENCH_PEER_ONCE"

// peerFDEnv tells a peer child its channel is descriptor 3.
const peerFDEnv = "NSFORK_BENCH_PEER_FD"

// peerChannel is a peer child's end of its channel.
func peerChannel() (io.Reader, io.Writer) {
	if os.Getenv(peerFDEnv) == "3" {
		f := os.NewFile(3, "peer")
		return f, f
	}
	return os.Stdin, os.Stdout
}

// ping writes 8 bytes and returns how long the answer took.
func (p *peerProc) ping() (time.Duration, error) {
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

func (p *peerProc) stop() {
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
