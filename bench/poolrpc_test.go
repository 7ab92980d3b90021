package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// The RPC peer: what a pooled call needs at the least, without nsfork's
// sandbox or setup. A plain Go child, started by os/exec, waits in a
// blocking read on its locked main thread, as a pooled child does; a call
// is a frame in nsfork's wire format that it decodes, a function it looks
// up by name and calls through reflect, results it encodes and writes as
// one frame, which the caller reads and decodes. (The pooled child does
// the same over a unix socket instead of two pipes, with a ready frame
// before the function runs.)

// rpcFuncs are the peer child's functions by name.
var rpcFuncs = map[string]reflect.Value{"noop": reflect.ValueOf(func() {})}

func startRPC(o peerOpts) (*peerProc, error) {
	return startPeer("rpc", o, func(p *peerProc) error { _, err := p.call("noop"); return err })
}

// freshRPC is an RPC peer used once, as a pool's child is: each call goes
// to a peer started (and warmed by one call of its own) right after the
// previous call, which exits after its answer. The replacement starts
// after the call is timed, before call returns, so that it overlaps
// nothing measured after it.
type freshRPC struct {
	o    peerOpts
	next *peerProc
}

// call times one call of the no-op on the standing peer, then starts its
// replacement.
func (f *freshRPC) call() (time.Duration, error) {
	if f.next == nil {
		if err := f.start(); err != nil {
			return 0, err
		}
	}
	d, err := f.next.call("noop")
	f.next.stop()
	f.next = nil
	if err != nil {
		return 0, err
	}
	return d, f.start()
}

func (f *freshRPC) start() error {
	o := f.o
	o.once = true
	p, err := startRPC(o)
	f.next = p
	return err
}

func (f *freshRPC) stop() {
	if f.next != nil {
		f.next.stop()
		f.next = nil
	}
}

// call calls name with no arguments and returns how long the results took.
func (p *peerProc) call(name string) (time.Duration, error) {
	t0 := time.Now()
	frame := wire.EncodeRequest(&wire.Request{Version: wire.Version, Name: name})
	if err := wire.WriteFrame(p.in, wire.KindCall, frame); err != nil {
		return 0, err
	}
	k, payload, err := wire.ReadFrame(p.out, 1<<20)
	if err != nil {
		return 0, err
	}
	if k != wire.KindResult {
		return 0, fmt.Errorf("rpc peer: %s frame", k)
	}
	if _, err := wire.DecodeValues(payload); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// rpcChild is the peer's side, until EOF.
func rpcChild() int {
	runtime.LockOSThread()
	in, out := peerChannel()
	once := os.Getenv(peerOnceEnv) != ""
	for n := 1; !once || n <= 2; n++ { // with once: the warm-up call and one more
		k, payload, err := wire.ReadFrame(in, 1<<20)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil || k != wire.KindCall {
			return 1
		}
		req, err := wire.DecodeRequest(payload)
		if err != nil {
			return 1
		}
		f, ok := rpcFuncs[req.Name]
		if !ok || f.Type().NumIn() != len(req.Args) {
			return 1
		}
		args := make([]reflect.Value, len(req.Args))
		for i := range req.Args {
			if args[i], err = wire.DecodeValue(&req.Args[i], f.Type().In(i)); err != nil {
				return 1
			}
		}
		var vals []wire.Arg
		for _, v := range f.Call(args) {
			a, err := wire.EncodeValue(v, v.Type())
			if err != nil {
				return 1
			}
			vals = append(vals, a)
		}
		if err := wire.WriteFrame(out, wire.KindResult, wire.EncodeValues(vals)); err != nil {
			return 1
		}
	}
	return 0
}

// BenchmarkPoolCallIsolation: which part of Default()'s isolation makes a
// pooled call slower after its child sat idle 1.4 s (a table round).
// Pool.Call of a no-op in pools of one whose options add the isolation a
// part at a time (no_new_privs alone; and a user namespace; and a pid
// namespace; Default's six namespaces; Default()), and the RPC peer
// plain, in a user and pid namespace of its own, over a unix socket, run
// from an in-memory copy of this binary (as pooled children are) and, so
// run, fresh for each call (freshRPC, as a pool's children are), each
// child idle the same time: one
// call every idle/len(entries), in a rotating order, so that each call's
// refill has ended before the next call and the machine's drift falls on
// all alike. Reported: each p50 and its ratio to the plain RPC peer's.
//
//	go test -run '^$' -bench PoolCallIsolation ./bench/
func BenchmarkPoolCallIsolation(b *testing.B) {
	samples := 10
	if v := os.Getenv("NSFORK_BENCH_IDLE_SAMPLES"); v != "" {
		fmt.Sscan(v, &samples)
	}
	const idle = 1400 * time.Millisecond
	def := sandbox.Default()
	ns := func(types ...specs.LinuxNamespaceType) *sandbox.Options {
		// no_new_privs: a sandbox in this process's pid namespace needs it
		// for its launcher guard when the caller is not root.
		o := &sandbox.Options{UIDMappings: def.UIDMappings, GIDMappings: def.GIDMappings, NoNewPrivileges: true}
		for _, t := range types {
			o.Namespaces = append(o.Namespaces, specs.LinuxNamespace{Type: t})
		}
		return o
	}
	type entry struct {
		*row
		d []time.Duration
	}
	var es []*entry
	for _, v := range []struct {
		name string
		opts *sandbox.Options
	}{
		{"none", &sandbox.Options{NoNewPrivileges: true}},
		{"user", ns(specs.UserNamespace)},
		{"user+pid", ns(specs.UserNamespace, specs.PIDNamespace)},
		{"namespaces", &sandbox.Options{Namespaces: def.Namespaces, UIDMappings: def.UIDMappings, GIDMappings: def.GIDMappings, NoNewPrivileges: true}},
		{"default", def},
	} {
		pool, err := fork.NewPool(v.opts, 1)
		if err != nil {
			b.Skip("NewPool " + v.name + ": " + err.Error())
		}
		defer pool.Close()
		es = append(es, &entry{row: &row{key: v.name, run: func() error {
			_, err := pool.Call(context.Background(), "noop")
			return err
		}}})
	}
	for _, v := range []struct {
		name string
		o    peerOpts
	}{
		{"rpc", peerOpts{}},
		{"rpc-user+pid", peerOpts{pidns: true}},
		{"rpc-socket", peerOpts{sock: true}},
		{"rpc-memfd", peerOpts{memfd: true}},
	} {
		rp, err := startRPC(v.o)
		if err != nil {
			b.Fatal(err)
		}
		defer rp.stop()
		es = append(es, &entry{row: &row{key: v.name, timed: func() (time.Duration, error) { return rp.call("noop") }}})
	}
	// A fresh peer per call, as a pool has a fresh child (freshRPC).
	for _, v := range []struct {
		name string
		o    peerOpts
	}{
		{"rpc-fresh-memfd", peerOpts{memfd: true}},
		{"rpc-fresh-memfd-user+pid", peerOpts{memfd: true, pidns: true}},
	} {
		f := &freshRPC{o: v.o}
		defer f.stop()
		es = append(es, &entry{row: &row{key: v.name, timed: f.call}})
	}
	gap := idle / time.Duration(len(es))
	for range b.N {
		for s := range samples {
			for j := range es {
				e := es[(s+j)%len(es)]
				time.Sleep(gap)
				d, err := e.measure()
				if err != nil {
					b.Fatalf("%s: %v", e.key, err)
				}
				e.d = append(e.d, d)
			}
		}
	}
	var rpc time.Duration
	for _, e := range es {
		if e.key == "rpc" {
			rpc = summarize(e.d).p50
		}
	}
	for _, e := range es {
		p := summarize(e.d).p50
		b.ReportMetric(micros(p), e.key+"-p50-µs")
		b.ReportMetric(float64(p)/float64(rpc), e.key+"-x-rpc")
	}
}
