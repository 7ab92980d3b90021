package fork

import (
	"errors"
	"reflect"
	"runtime"

	"github.com/nsfork/nsfork/internal/wire"
)

// warmCallPath runs, in a pooled child before it reports idle, what every
// call runs once it arrives (decoding the call frame, a word and a gob
// argument, a reflect call, encoding and framing the results) on values of its own,
// then collects the garbage, so that the call's own allocations reuse
// memory this touched. Where the first touch of a fresh page traps to the
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
	runtime.GC()
	return nil
}
