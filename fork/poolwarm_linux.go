package fork

import (
	"errors"
	"reflect"
	"runtime"
	"slices"

	"github.com/nsfork/nsfork/internal/wire"
)

// warmCallPath runs, in a pooled child before it reports idle, what every
// call runs once it arrives (decoding the call frame, a word and a gob
// argument, a reflect call, encoding and framing the results) on values of
// its own, lays out the call frames of the registered functions' types
// (warmLayouts), then collects the garbage, so that the call's own
// allocations reuse memory this touched. Where the first touch of a fresh page traps to the
// hypervisor (this project's VM: 20-30 µs a page) each fresh page was on
// the call's clock (docs/speed.md, "Where a pooled call's time goes"). No
// registered function runs and nothing is sent. An error means the
// warm-up did not go the whole way; the child goes on without it.
func warmCallPath() error {
	// An int64 travels as a word, a []int64 through gob: both paths.
	it, st := reflect.TypeFor[int64](), reflect.TypeFor[[]int64]()
	var args []wire.Arg
	for _, v := range []reflect.Value{reflect.ValueOf(int64(41)), reflect.ValueOf([]int64{1, 2})} {
		a, err := wire.EncodeValue(v, v.Type())
		if err != nil {
			return err
		}
		args = append(args, a)
	}
	if args[0].Kind != wire.ArgWord || args[1].Kind != wire.ArgGob {
		return errors.New("the warm-up's arguments do not take the word and the gob paths")
	}
	frame := wire.EncodeRequest(&wire.Request{Version: wire.Version, Name: "nsfork:warm", Args: args})
	req, err := wire.DecodeRequest(frame)
	if err != nil {
		return err
	}
	if len(req.Args) != 2 {
		return errors.New("the call frame lost an argument")
	}
	var in []reflect.Value
	for i, t := range []reflect.Type{it, st} {
		v, err := decodeValue(&req.Args[i], t, nil)
		if err != nil {
			return err
		}
		in = append(in, v)
	}
	fn := func(n int64, xs []int64) (int64, []int64) { return n + 1, append(xs, n) }
	out := reflect.ValueOf(fn).Call(in)
	vals, err := encodeResults(out)
	if err != nil {
		return err
	}
	back, err := wire.DecodeValues(wire.EncodeValues(vals))
	if err != nil {
		return err
	}
	if len(back) != 2 {
		return errors.New("the result frame lost a value")
	}
	r, err := wire.DecodeValue(&back[0], it)
	if err != nil {
		return err
	}
	xs, err := wire.DecodeValue(&back[1], st)
	if err != nil {
		return err
	}
	if r.Int() != 42 || xs.Len() != 3 || xs.Index(2).Int() != 41 {
		return errors.New("the warm-up's round trip gave a wrong result")
	}
	warmLayouts(maxWarmLayouts)
	runtime.GC()
	return nil
}

// maxWarmLayouts bounds the function types warmLayouts prepares, so that a
// program with many registered functions does not pay for all of them in
// every pooled child's setup.
const maxWarmLayouts = 32

// warmLayouts has reflect lay out the call frame of each registered
// function's type (at most max types), as a call of that type does the
// first time in a process: reflect caches the layout per type, and working
// it out allocates and touches fresh memory (3-4 page faults a call here,
// on the call's clock; docs/speed.md). It calls a stand-in of the same
// type made by reflect.MakeFunc with zero arguments; no registered
// function runs. It returns how many types it prepared.
func warmLayouts(max int) int {
	regMu.RLock()
	types := make([]reflect.Type, 0, len(registry))
	for _, f := range registry {
		if t := f.fn.Type(); !slices.Contains(types, t) && len(types) < max {
			types = append(types, t)
		}
	}
	regMu.RUnlock()
	for _, t := range types {
		stub := reflect.MakeFunc(t, func([]reflect.Value) []reflect.Value {
			out := make([]reflect.Value, t.NumOut())
			for i := range out {
				out[i] = reflect.Zero(t.Out(i))
			}
			return out
		})
		in := make([]reflect.Value, t.NumIn())
		for i := range in {
			in[i] = reflect.Zero(t.In(i))
		}
		if t.IsVariadic() {
			stub.CallSlice(in)
		} else {
			stub.Call(in)
		}
	}
	return len(types)
}
