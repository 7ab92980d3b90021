package fork

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/forkchild"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// maxRequest bounds the request frame a child accepts (big []byte
// arguments travel in memfds, not in the frame).
const maxRequest = 256 << 20

// requestTimeout bounds how long a child waits for its request.
const requestTimeout = 30 * time.Second

// Init turns this process into the registered function it was started for,
// if it was started by Fork, ForkIsolated or Start, and never returns then.
// In any other process it returns at once. Call it early: in an init()
// after the functions are registered, or first thing in main.
func Init() {
	m, ok := os.LookupEnv(markerEnv)
	if !ok {
		return
	}
	os.Unsetenv(markerEnv)
	// Setup below changes per-thread state before going process-wide; keep
	// it, and the function, on this thread.
	runtime.LockOSThread()
	forkchild.SetCommAllThreads()
	os.Exit(child(m))
}

// child runs the child side and returns its exit code.
func child(mv string) int {
	m, err := forkchild.ParseMarker(mv)
	if err == nil {
		err = forkchild.CheckChannel(m.FD)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fork: %s is set but this process has no valid parent channel (%v): refusing to run any function\n", markerEnv, err)
		return wire.ExitBadMarker
	}
	passed := map[int]bool{}
	for fd := m.FD + 1; fd < m.FD+m.NFDs; fd++ {
		passed[fd] = true
	}
	unix.CloseOnExec(m.FD)
	unix.SetNonblock(m.FD, true)
	ctrl := os.NewFile(uintptr(m.FD), "nsfork-ctrl")

	send := func(k wire.Kind, p []byte) { wire.WriteFrame(ctrl, k, p) }
	refuse := func(code int, step, op string, err error) int {
		send(wire.KindProtocol, setupFrame(sandbox.NewSetupError(step, op, "", err)))
		return code
	}

	var k wire.Kind
	var payload []byte
	if m.Staged > 0 {
		k, payload, err = readStagedRequest(m.Staged)
	} else {
		ctrl.SetReadDeadline(time.Now().Add(requestTimeout))
		k, payload, err = wire.ReadFrame(ctrl, maxRequest)
		ctrl.SetReadDeadline(time.Time{})
	}
	if err != nil {
		return refuse(wire.ExitProtocol, "request", "read request", err)
	}
	if k != wire.KindRequest {
		return refuse(wire.ExitProtocol, "request", "read request", fmt.Errorf("expected a request frame, got %s", k))
	}
	req, err := wire.DecodeRequest(payload)
	if err != nil {
		return refuse(wire.ExitProtocol, "request", "decode request", err)
	}
	if !bytes.Equal(req.Token, m.Token) {
		return refuse(wire.ExitProtocol, "request", "check token", errors.New("request token does not match the marker"))
	}
	if req.Flags&wire.FlagMapsAfter != 0 {
		// The parent wrote the id maps before the request.
		if op, err := afterMaps(req.Flags&wire.FlagRootAfter != 0); err != nil {
			send(wire.KindSetup, setupFrame(sandbox.NewSetupError("ids", op, "", err)))
			return wire.ExitSetup
		}
	}
	if os.Getpid() == 1 {
		earlyReaper.Start(syscall.SIGCHLD) // startReaper, below
	}
	if req.Flags&wire.FlagCommand != 0 && req.Flags&(wire.FlagPooled|wire.FlagHold) == 0 && os.Getpid() == 1 {
		// A command's pid 1 (runAsInit); not while a pooled child idles,
		// nor while a held one waits for its start (signals end those).
		earlyInit.Start(initForwarded...)
	}
	var opts *sandbox.Options
	var filter *seccomp.Program
	if len(req.Sandbox) > 0 {
		opts = &sandbox.Options{}
		if err := json.Unmarshal(req.Sandbox, opts); err != nil {
			return refuse(wire.ExitProtocol, "sandbox", "decode options", err)
		}
		if len(req.Filter) > 0 {
			filter = new(seccomp.Program)
			if err := filter.UnmarshalBinary(req.Filter); err != nil {
				return refuse(wire.ExitProtocol, "sandbox", "decode seccomp filter", err)
			}
		}
	}
	console := -1
	if req.Flags&wire.FlagConsole != 0 && req.Flags&wire.FlagCommand != 0 {
		// Config.Console: the last passed descriptor, not an argument.
		console = m.FD + m.NFDs - 1
		delete(passed, console)
		unix.CloseOnExec(console)
	}
	var term *os.File // Config.Console: the command's terminal
	// From here the child's life is nsinit's table of steps; this side
	// takes the arguments when nsinit says (after a time namespace's
	// re-exec) and reports.
	var f *Function
	var in []reflect.Value
	var code int
	var argErr error
	applied, err := nsinit.Setup(opts, nsinit.Config{
		Ctrl: m.FD, FirstFD: m.FD, NumFDs: m.NFDs, Staged: m.Staged,
		DieWithParent: req.Flags&wire.FlagDieWithParent != 0, Filter: filter, Exec: req.Flags&wire.FlagCommand != 0,
		CarriedCaps: req.Flags&wire.FlagMapsAfter != 0,
		Stage:       func() ([]string, error) { return stageRequest(m, payload) },
		Arguments: func() error {
			f, in, code, argErr = dispatch(req, fdValue(passed))
			return argErr
		},
	})
	if argErr != nil {
		step, op := dispatchStep(code, req.Name)
		return refuse(code, step, op, argErr)
	}
	if err != nil {
		send(wire.KindSetup, setupFrame(err))
		return wire.ExitSetup
	}
	if opts != nil {
		if req.Flags&wire.FlagCommand != 0 {
			// From here until the command's exec this process has the
			// command's ids and capabilities but not yet its seccomp
			// filter, and holds the channel to the caller; an OCI
			// runtime's "created" container waits here for its start,
			// and its exec'd processes (the same ids, capabilities and
			// pid namespace) could otherwise ptrace it, run what the
			// filter forbids through it, or take the channel
			// (pidfd_getfd). The command's execve makes it dumpable
			// again; a pid 1 that stays (runAsInit) stays so.
			if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
				send(wire.KindSetup, setupFrame(sandbox.NewSetupError("command", "prctl PR_SET_DUMPABLE 0", "", err)))
				return wire.ExitSetup
			}
		}
		if req.Flags&wire.FlagOneProc != 0 {
			os.Unsetenv("GOMAXPROCS")
			runtime.SetDefaultGOMAXPROCS()
		}
		if req.Flags&wire.FlagEnv != 0 {
			// The sandbox's environment, which this program's own
			// exec did not get (execEnv).
			setEnviron(req.Env)
		}
		if req.Flags&wire.FlagHold != 0 && req.Flags&wire.FlagCommand != 0 && len(req.Argv) > 0 {
			// A held command (an OCI runtime's "created" container)
			// must exist before the hold: its creation fails, not its
			// start, as with runc.
			if _, code := findCommand(req.Argv[0], send); code != 0 {
				return code
			}
		}
		if console >= 0 {
			// Made and sent before the hold: an OCI runtime's caller
			// (conmon) waits for the terminal during create.
			if term, code = commandConsole(console, send); code != 0 {
				return code
			}
		}
		if applied != nil {
			send(wire.KindApplied, applied)
		}
		if req.Flags&wire.FlagWaitGo != 0 {
			if req.Flags&wire.FlagHold == 0 {
				ctrl.SetReadDeadline(time.Now().Add(requestTimeout))
			}
			k, why, err := wire.ReadFrame(ctrl, 1<<20)
			ctrl.SetReadDeadline(time.Time{})
			switch {
			case err != nil:
				return refuse(wire.ExitProtocol, "go", "wait for go", err)
			case k == wire.KindStop:
				send(wire.KindSetup, setupFrame(&sandbox.SetupError{Step: "refused", Op: "the parent refused the applied settings", Err: errors.New(string(why))}))
				return wire.ExitSetup
			case k != wire.KindGo:
				return refuse(wire.ExitProtocol, "go", "wait for go", fmt.Errorf("expected go or stop, got %s", k))
			}
		}
	}
	// The reaper starts before a pooled child goes idle, so that the call
	// finds nothing left to start (each goroutine started then may make
	// the runtime start a thread, on the call's clock).
	if os.Getpid() == 1 {
		startReaper()
	}
	pooled := req.Flags&wire.FlagPooled != 0
	if pooled {
		// Set up and waiting: the call brings the function and arguments.
		// The parent's death shows as the end of this read; afterwards
		// the parent-death signal (set again after the id change) covers
		// it, as no second reader may share the channel meanwhile.
		warmCallPath() // an error only means a colder call
		commandArrived := func() {}
		if req.Flags&wire.FlagCommand != 0 && os.Getpid() == 1 {
			commandArrived = idleInitSignals()
		}
		send(wire.KindIdle, nil)
		// The wait is a blocking recvmsg on this thread, to which the
		// goroutine is locked: the call wakes it directly, not through
		// the poller and then a hand-over to the locked thread.
		rr := &rightsReader{ctrl: ctrl}
		unix.SetNonblock(m.FD, false)
		k, payload, err := wire.ReadFrame(rr, maxRequest)
		unix.SetNonblock(m.FD, true)
		commandArrived()
		if err != nil {
			closeAll(rr.fds)
			if errors.Is(err, io.EOF) {
				return wire.ExitParentGone // the pool closed
			}
			return refuse(wire.ExitProtocol, "call", "read call", err)
		}
		if k != wire.KindCall {
			return refuse(wire.ExitProtocol, "call", "read call", fmt.Errorf("expected a call frame, got %s", k))
		}
		call, err := wire.DecodeRequest(payload)
		if err != nil {
			closeAll(rr.fds)
			return refuse(wire.ExitProtocol, "call", "decode call", err)
		}
		passed, err := mapPassed(call.Args, rr.fds)
		if err != nil {
			closeAll(rr.fds)
			return refuse(wire.ExitProtocol, "call", "map passed descriptors", err)
		}
		if f, in, code, err = dispatch(call, fdValue(passed)); err != nil {
			step, op := dispatchStep(code, call.Name)
			return refuse(code, step, op, err)
		}
	}
	if req.Flags&wire.FlagDieWithParent != 0 && !pooled {
		go nsinit.WatchParent(ctrl, wire.ExitParentGone)
	}
	if req.Flags&wire.FlagCommand != 0 {
		argv := req.Argv
		if pooled {
			if argv, err = takeCommand(f, in, send); err == errCwd {
				return wire.ExitSetup
			} else if err != nil {
				return refuse(wire.ExitProtocol, "call", "take command", err)
			}
		}
		if len(argv) == 0 {
			return refuse(wire.ExitProtocol, "request", "check command", errors.New("command mode without a command"))
		}
		if console >= 0 && term == nil {
			if term, code = commandConsole(console, send); code != 0 {
				return code
			}
		}
		return execCommand(argv, send, term, opts)
	}
	send(wire.KindReady, nil)
	return run(f, in, send)
}

// dispatch finds the requested function and decodes its arguments.
func dispatch(req *wire.Request, fdv func(*wire.Arg, reflect.Type) (reflect.Value, error)) (*Function, []reflect.Value, int, error) {
	f, ok := lookup(req.Name)
	if !ok {
		return nil, nil, wire.ExitUnknownFunc, fmt.Errorf("%q", req.Name)
	}
	ft := f.fn.Type()
	if err := checkArity(f.Name, ft, len(req.Args)); err != nil {
		return nil, nil, wire.ExitProtocol, err
	}
	in := make([]reflect.Value, len(req.Args))
	for i := range req.Args {
		v, err := decodeValue(&req.Args[i], wire.ParamType(ft, i), fdv)
		if err != nil {
			return nil, nil, wire.ExitProtocol, fmt.Errorf("argument %d: %w", i, err)
		}
		in[i] = v
	}
	return f, in, 0, nil
}

// dispatchStep names the step and operation of a dispatch failure.
func dispatchStep(code int, name string) (step, op string) {
	if code == wire.ExitUnknownFunc {
		return "dispatch", "look up " + name
	}
	return "arguments", "decode the arguments of " + name
}

// setupFrame is the payload of a KindSetup or KindProtocol frame: the JSON
// encoding of err's *sandbox.SetupError (any other error becomes the cause
// of one).
func setupFrame(err error) []byte {
	var se *sandbox.SetupError
	if !errors.As(err, &se) {
		se = sandbox.NewSetupError("setup", "apply options", "", err)
	}
	b, _ := json.Marshal(se)
	return b
}

// run calls the function and reports its outcome.
func run(f *Function, in []reflect.Value, send func(wire.Kind, []byte)) int {
	defer func() {
		if r := recover(); r != nil {
			send(wire.KindPanic, wire.EncodePanic(&wire.Panic{
				Value: fmt.Sprint(r), Type: fmt.Sprintf("%T", r), Stack: string(debug.Stack()),
			}))
			// Once the parent has it, the panic goes on: the runtime prints
			// it and the stack on stderr and exits 2 (wire.ExitPanic), as an
			// unrecovered panic does.
			panic(r)
		}
	}()
	out := f.fn.Call(in)
	_, hasErr := resultTypes(f.fn.Type())
	if hasErr {
		last := out[len(out)-1]
		out = out[:len(out)-1]
		if !last.IsNil() {
			err := last.Interface().(error)
			re := &wire.RemoteError{Msg: err.Error(), Type: fmt.Sprintf("%T", err)}
			var errno syscall.Errno
			if errors.As(err, &errno) {
				re.Errno = uint32(errno)
			}
			send(wire.KindError, wire.EncodeRemoteError(re))
			return wire.ExitFuncError
		}
	}
	vals, err := encodeResults(out)
	if err != nil {
		send(wire.KindError, wire.EncodeRemoteError(&wire.RemoteError{Msg: "fork: encoding results: " + err.Error(), Type: "fork.encode"}))
		return wire.ExitFuncError
	}
	send(wire.KindResult, wire.EncodeValues(vals))
	return wire.ExitOK
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
