package fork

import (
	"errors"
	"reflect"
	"runtime"

	"github.com/nsfork/nsfork/internal/wire"
)

// warmCallPath runs, in a pooled child before it reports idle, what every
// call runs once it arrives (decoding the call frame and a gob argument, a
// reflect call, encoding and framing the result) on values of its own,
// then collects the garbage, so that the call's own allocations reuse
// memory this touched. Where the first touch of a fresh page traps to the
// hypervisor (this project's VM: 20-30 µs a page) each fresh page was on
// the call's clock (docs/speed.md, "Where a pooled call's time goes"). No
// registered function runs and nothing is sent. An error means the
// warm-up did not go the whole way; the child goes on without it.
func warmCallPath() error {
	t := reflect.TypeFor[int64]()
	a, err := wire.EncodeValue(reflect.ValueOf(int64(41)), t)
	if err != nil {
		return err
	}
	frame := wire.EncodeRequest(&wire.Request{Version: wire.Version, Name: "nsfork:warm", Args: []wire.Arg{a}})
	req, err := wire.DecodeRequest(frame)
	if err != nil {
		return err
	}
	if len(req.Args) != 1 {
		return errors.New("the call frame lost its argument")
	}
	v, err := decodeValue(&req.Args[0], t, nil)
	if err != nil {
		return err
	}
	out := reflect.ValueOf(func(n int64) int64 { return n + 1 }).Call([]reflect.Value{v})
	vals, err := encodeResults(out)
	if err != nil {
		return err
	}
	back, err := wire.DecodeValues(wire.EncodeValues(vals))
	if err != nil {
		return err
	}
	r, err := wire.DecodeValue(&back[0], t)
	if err != nil {
		return err
	}
	if r.Int() != 42 {
		return errors.New("the warm-up's round trip gave a wrong result")
	}
	runtime.GC()
	return nil
}
