package fork

import (
	"bytes"
	"fmt"
	"os"
	"reflect"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/forkchild"
	"github.com/nsfork/nsfork/internal/wire"
)

// maxRequest bounds the request frame a child accepts.
const maxRequest = 256 << 20

// Init turns this process into the registered function it was started
// for, if Fork started it, and never returns then: the child exits 0
// after the function returns (1 if it returned a non-nil error as its
// last result). In any other process it returns at once. Call it early:
// in an init() after the functions are registered, or first thing in main.
func Init() {
	v, ok := os.LookupEnv(markerEnv)
	if !ok {
		return
	}
	os.Unsetenv(markerEnv)
	forkchild.SetCommLeader()
	fn, in, code := takeRequest(v)
	if code != 0 {
		os.Exit(code)
	}
	// A panic goes on as any unrecovered panic: Go's report and the stack
	// on stderr, exit status 2.
	out := fn.Call(in)
	if n := len(out); n > 0 && out[n-1].Type() == errorType && !out[n-1].IsNil() {
		os.Exit(wire.ExitFuncError)
	}
	os.Exit(0)
}

var errorType = reflect.TypeFor[error]()

// takeRequest checks the channel the marker v names, reads the request,
// closes the descriptors the child inherited by accident and the channel,
// and returns the function and its arguments, or the exit code of a
// refusal (said on stderr).
func takeRequest(v string) (reflect.Value, []reflect.Value, int) {
	fail := func(code int, format string, a ...any) (reflect.Value, []reflect.Value, int) {
		fmt.Fprintf(os.Stderr, "gofork: "+format+"\n", a...)
		return reflect.Value{}, nil, code
	}
	m, err := forkchild.ParseMarker(v)
	if err == nil {
		err = forkchild.CheckChannel(m.FD)
	}
	if err != nil {
		return fail(wire.ExitBadMarker, "%s is set but this process has no valid parent channel (%v): refusing to run any function", markerEnv, err)
	}
	unix.CloseOnExec(m.FD)
	forkchild.CloseStray(m.FD, m.NFDs, -1)
	// The descriptor is blocking: the read needs no poller, and the
	// request is queued before the start or written right after it.
	ctrl := os.NewFile(uintptr(m.FD), "gofork-ctrl")
	defer ctrl.Close()
	k, payload, err := wire.ReadFrame(ctrl, maxRequest)
	if err != nil || k != wire.KindRequest {
		return fail(wire.ExitProtocol, "reading the request: %s frame, %v", k, err)
	}
	req, err := wire.DecodeRequest(payload)
	if err != nil {
		return fail(wire.ExitProtocol, "decoding the request: %v", err)
	}
	if !bytes.Equal(req.Token, m.Token) {
		return fail(wire.ExitProtocol, "the request's token does not match the marker: refusing to run any function")
	}
	f, ok := lookup(req.Name)
	if !ok {
		return fail(wire.ExitUnknownFunc, "no fork by name %q is registered in this program", req.Name)
	}
	ft := f.fn.Type()
	if err := wire.CheckArity(ft, len(req.Args)); err != nil {
		return fail(wire.ExitProtocol, "%s: %v", req.Name, err)
	}
	in := make([]reflect.Value, len(req.Args))
	for i := range req.Args {
		if in[i], err = wire.DecodeValue(&req.Args[i], wire.ParamType(ft, i)); err != nil {
			return fail(wire.ExitProtocol, "%s argument %d: %v", req.Name, i, err)
		}
	}
	// Told before the call: a child that exits 0 from here on (os.Exit,
	// an exec'ed program) ran its function. A parent that is gone already
	// (the child outlives it) is no reason not to run.
	wire.WriteFrame(ctrl, wire.KindReady, nil)
	return f.fn, in, 0
}
