package fork

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/forkchild"
	"github.com/nsfork/nsfork/internal/wire"
)

// markerEnv marks a child this package started; its value is a
// forkchild.Marker. fork's children have a marker of their own, so a
// program importing both packages runs each child in the right Init.
const markerEnv = "NSFORK_GOFORK_CHILD"

// ctrlFD is the child's end of the channel: the first of ExtraFiles.
const ctrlFD = 3

// earlyMax: a request up to this size is queued in the socket before the
// child starts (well under the socket's buffer); a bigger one is written
// while the child reads it.
const earlyMax = 64 << 10

// Function is a forkable function, with go-fork's exported fields.
type Function struct {
	// SysProcAttr holds optional attributes for the child, e.g.
	// namespaces; it is copied when Fork is called.
	SysProcAttr *syscall.SysProcAttr
	// Process is the most recently started child.
	Process *os.Process
	// ProcessState is the most recently waited-for child's state.
	ProcessState *os.ProcessState
	// Name identifies the function in the registry.
	Name string
	// Stdout, Stderr and Stdin of the child. A nil Stdout or Stderr is the
	// parent's own; a nil Stdin is /dev/null, as with os/exec.
	Stdout *os.File
	Stderr *os.File
	Stdin  *os.File

	fn   reflect.Value
	argv []string

	mu      sync.Mutex
	pending []*child
}

// child is one started, not yet waited-for child.
type child struct {
	cmd     *exec.Cmd
	ctrl    int           // the parent's end of the channel
	written chan struct{} // closed once a big request is written (nil: queued before the start)
}

// NewFork makes a Function named n that runs fn. argv, if given, is the
// child's argument vector (argv[0] is what ps shows). As with go-fork, it
// returns nil when fn is not a function.
func NewFork(n string, fn any, argv ...string) *Function {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil
	}
	return &Function{Name: n, fn: v, argv: argv}
}

// Fork starts the registered function name with args.
func Fork(name string, args ...any) error {
	f, ok := lookup(name)
	if !ok {
		return fmt.Errorf("gofork: no registered function by name: %s", name)
	}
	return f.Fork(args...)
}

// Fork starts the function in a child with args, checked against its
// parameters first. The child outlives the parent unless SysProcAttr says
// otherwise; call Wait to wait for it. A Function may be forked again,
// also before the last child was waited for.
func (f *Function) Fork(args ...any) error {
	if f == nil || !f.fn.IsValid() {
		return errors.New("gofork: Fork of a Function not made by NewFork")
	}
	if _, ok := os.LookupEnv(markerEnv); ok {
		// A child whose program never called Init would fork again, and
		// its child too.
		return errors.New("gofork: Fork in a child whose program did not call gofork's Init")
	}
	req, err := f.request(args)
	if err != nil {
		return err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("gofork: socketpair: %w", err)
	}
	childEnd := os.NewFile(uintptr(fds[1]), "gofork-ctrl")
	defer childEnd.Close()
	payload := wire.EncodeRequest(req)
	early := len(payload) <= earlyMax
	if early {
		if err := wire.WriteFrame(fdWriter(fds[0]), wire.KindRequest, payload); err != nil {
			unix.Close(fds[0])
			return fmt.Errorf("gofork: queueing the request: %w", err)
		}
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = f.argv
	if len(cmd.Args) == 0 {
		cmd.Args = []string{os.Args[0]}
	}
	cmd.Env = append(os.Environ(), markerEnv+"="+forkchild.Marker{FD: ctrlFD, NFDs: 1, Token: req.Token}.String())
	// A typed nil *os.File must not become a non-nil io.Reader/Writer.
	if f.Stdin != nil {
		cmd.Stdin = f.Stdin
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if f.Stdout != nil {
		cmd.Stdout = f.Stdout
	}
	if f.Stderr != nil {
		cmd.Stderr = f.Stderr
	}
	cmd.ExtraFiles = []*os.File{childEnd}
	if f.SysProcAttr != nil {
		a := *f.SysProcAttr
		cmd.SysProcAttr = &a
	}
	if err := cmd.Start(); err != nil {
		unix.Close(fds[0])
		return fmt.Errorf("gofork: starting the child: %w", err)
	}
	childEnd.Close()
	c := &child{cmd: cmd, ctrl: fds[0]}
	if !early {
		c.written = make(chan struct{})
		go func() {
			// An error means the child is gone; Wait says why.
			wire.WriteFrame(fdWriter(fds[0]), wire.KindRequest, payload)
			close(c.written)
		}()
	}
	f.mu.Lock()
	f.Process = cmd.Process
	f.pending = append(f.pending, c)
	f.mu.Unlock()
	return nil
}

// request checks args against f's parameters and encodes the request.
func (f *Function) request(args []any) (*wire.Request, error) {
	ft := f.fn.Type()
	if err := wire.CheckArity(ft, len(args)); err != nil {
		return nil, fmt.Errorf("gofork: %s is %s: %w", f.Name, ft, err)
	}
	req := &wire.Request{Version: wire.Version, Name: f.Name, Args: make([]wire.Arg, len(args))}
	for i, a := range args {
		pt := wire.ParamType(ft, i)
		av, err := wire.ArgValue(a, pt)
		if err != nil {
			return nil, fmt.Errorf("gofork: %s argument %d: %w", f.Name, i, err)
		}
		if !av.IsValid() {
			req.Args[i] = wire.Arg{Kind: wire.ArgNil}
			continue
		}
		if req.Args[i], err = wire.EncodeValue(av, pt); err != nil {
			return nil, fmt.Errorf("gofork: %s argument %d: %w", f.Name, i, err)
		}
	}
	var err error
	if req.Token, err = forkchild.NewToken(); err != nil {
		return nil, fmt.Errorf("gofork: %w", err)
	}
	return req, nil
}

// Wait waits for every child this Function started and not yet waited
// for, and sets ProcessState to the last one's. A child that exited 0
// after its function ran succeeded; a non-zero exit or a signal is an
// *exec.ExitError; a child that exited 0 without running the function is
// an error too. With several children their errors are joined.
func (f *Function) Wait() error {
	f.mu.Lock()
	ps := f.pending
	f.pending = nil
	f.mu.Unlock()
	var errs []error
	for _, c := range ps {
		err := c.cmd.Wait()
		if err == nil && !ran(c.ctrl) {
			err = fmt.Errorf("gofork: the child exited 0 without running %s (does the program call gofork's Init?)", f.Name)
		}
		if c.written != nil {
			<-c.written
		}
		unix.Close(c.ctrl)
		if err != nil {
			errs = append(errs, err)
		}
		f.mu.Lock()
		f.ProcessState = c.cmd.ProcessState
		f.mu.Unlock()
	}
	if len(errs) == 1 {
		// Unjoined, so that err.(*exec.ExitError) holds as with go-fork.
		return errs[0]
	}
	return errors.Join(errs...)
}

// ran reports whether the exited child said, on its channel, that its
// function was about to run.
func ran(ctrl int) bool {
	var b [16]byte
	n, _, err := unix.Recvfrom(ctrl, b[:], unix.MSG_DONTWAIT)
	return err == nil && n > 0
}

// fdWriter writes to a blocking descriptor (no poller: the parent's end
// is read and written only by the calls above).
type fdWriter int

func (fd fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(fd), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
