package fork

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/nsfork/nsfork/internal/cgroups"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// DefaultMaxResult bounds what a child may send back unless Config.MaxResult
// says otherwise.
const DefaultMaxResult = 256 << 20

// Config is everything about a start that is not the function, its
// arguments and its sandbox. The zero Config is the usual one: the child
// shares the parent's stdio and dies with the parent.
type Config struct {
	// Stdin, Stdout and Stderr of the child; nil means the parent's own.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Args is the child's argv (Args[0] is what ps shows); nil means
	// os.Args[0] alone. The binary is always /proc/self/exe.
	Args []string
	// SysProcAttr is a base the launcher adds its own settings to.
	SysProcAttr *syscall.SysProcAttr
	// KeepAlive lets the child outlive the parent (the compat API's
	// behaviour). The default, false, kills the child when the parent dies.
	KeepAlive bool
	// MaxResult bounds the bytes of any one message from the child
	// (results, errors); 0 means DefaultMaxResult.
	MaxResult int
	// OnApplied, with a sandbox, is called with the child's report of
	// what it applied, after setup and before the function runs or the
	// command is exec'ed; the child waits for it. A non-nil error stops the
	// child there: Wait then returns a *SetupError with step "refused".
	OnApplied func(p *Process, applied *sandbox.Applied) error
	// Reparent starts the child as a child of this process's parent
	// (clone's CLONE_PARENT; implies KeepAlive), as an OCI runtime's create
	// must, whose caller (conmon, containerd's shim) waits for the
	// container's process as its own child once create has exited. Wait
	// then returns when the child has exited, with ErrReparented: its exit
	// status is its parent's to collect (reparent_linux.go).
	Reparent bool
	// Console, with StartCommand, is a connected unix socket: the command
	// gets a new pseudo-terminal made inside the sandbox after setup (from
	// its /dev/ptmx) as its stdio and controlling terminal, and the
	// terminal's master is sent over Console (SCM_RIGHTS), as an OCI
	// runtime's --console-socket has it (internal/console).
	Console *os.File
	// Hold, with OnApplied, lets the child wait for OnApplied's verdict
	// without a time limit (otherwise 30 s): an OCI runtime's "created"
	// container, set up and stopped before its command until "start".
	Hold bool

	pooled bool // NewPool: the child sets up, then waits for a call
}

// Process is a started child.
type Process struct {
	// Pid is the child's process id in the parent's pid namespace.
	Pid int
	// ProcessState is set once Wait has returned.
	ProcessState *os.ProcessState

	cmd       *exec.Cmd
	ctrl      *os.File
	fn        *Function
	readDone  chan struct{}
	release   chan struct{} // lets a namespace-joining start thread exit
	command   bool          // StartCommand: no results, the command's status
	sigHold   signalHold    // a pid 1's command: Signal waits for KindReady
	cgroup    *cgroups.Cgroup
	lease     *idLease // the sandbox's range of host ids, see idlease_linux.go
	usage     *Usage
	onApplied func(*Process, *sandbox.Applied) error
	idle      chan struct{} // pooled: closed when the child is set up and waits
	idleOnce  sync.Once
	readyCh   chan struct{} // pooled: closed when the function is about to run
	readyOnce sync.Once
	outcome   chan struct{} // pooled: closed when a result, error or panic arrived
	outOnce   sync.Once
	handed    chan handOver // pooled: how the pool let go of it, see Pool.watch
	waitOnce  sync.Once
	waitErr   error
	pidfd     int // Reparent: a pidfd from the clone, else -1

	mu       sync.Mutex
	ready    bool
	results  []any
	gotRes   bool
	childErr error // setup, protocol, panic or function error from a frame
	readErr  error // the control channel broke
	applied  *sandbox.Applied
	// appliedJSON is the child's report until Applied decodes it: most
	// launches never read it, and decoding runtime-spec's types the first
	// time in a process costs 0.6-0.75 ms.
	appliedJSON []byte
	// gotApplied: the setup's report arrived. It is the only one taken,
	// and only before the function runs: what comes after is the
	// function's, which could claim anything.
	gotApplied bool
}

// Start runs the registered function name in a new process with args and
// no isolation. The child dies with the parent.
//
// Deprecated: use (*Config).Start with nil options:
// new(Config).Start(ctx, name, nil, args...). Start is kept working until
// the next minor version.
func Start(name string, args ...any) (*Process, error) {
	return (&Config{}).Start(context.Background(), name, nil, args...)
}

// ForkIsolated runs the registered function name in a new process isolated
// as opts says, with args. A nil opts means no isolation. Wait returns the
// function's own error, or the child's setup error.
//
// Deprecated: use (*Config).Start, which takes a context:
// new(Config).Start(ctx, name, opts, args...). ForkIsolated is kept working
// until the next minor version.
func ForkIsolated(name string, opts *sandbox.Options, args ...any) (*Process, error) {
	return (&Config{}).Start(context.Background(), name, opts, args...)
}

// ForkIsolatedContext is ForkIsolated with a context: when ctx is done the
// child (and, in a new pid namespace, everything in it) is killed and reaped.
//
// Deprecated: use (*Config).Start, the same with a Config:
// new(Config).Start(ctx, name, opts, args...). ForkIsolatedContext is kept
// working until the next minor version.
func ForkIsolatedContext(ctx context.Context, name string, opts *sandbox.Options, args ...any) (*Process, error) {
	return (&Config{}).Start(ctx, name, opts, args...)
}

// Start runs the registered function name with args, isolated as opts says
// (nil: not isolated), configured by c (nil: the zero Config), and returns
// at once. When ctx is done the child (and, in a new pid namespace,
// everything in it) is killed and reaped. It is the one start for a
// function; StartCommand is the one for a command.
func (c *Config) Start(ctx context.Context, name string, opts *sandbox.Options, args ...any) (*Process, error) {
	if c == nil {
		c = &Config{}
	}
	f, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (register it with fork.RegisterFunc before fork.Init)", ErrNotRegistered, name)
	}
	return launch(ctx, c, f, opts, args)
}

// Results returns the values the function returned, without its trailing
// error, typed as the function declares them. It is valid after Wait.
func (p *Process) Results() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.results
}

// Applied returns the child's report of the sandbox settings it applied
// (nil without a sandbox). It is valid after Wait, or once the function runs.
func (p *Process) Applied() *sandbox.Applied {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.appliedJSON != nil {
		a := new(sandbox.Applied)
		if err := json.Unmarshal(p.appliedJSON, a); err != nil {
			if p.childErr == nil {
				p.childErr = &ProtocolError{Err: fmt.Errorf("%s frame: %w", wire.KindApplied, err)}
			}
		} else {
			p.applied = a
		}
		p.appliedJSON = nil
	}
	return p.applied
}

// Usage returns what the child's cgroup accounted (nil without cgroup
// limits). It is valid after Wait.
func (p *Process) Usage() *Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usage
}

// Usage is the accounting of a sandbox's cgroup when it ended.
type Usage struct {
	MemoryPeak     uint64        // bytes
	MemoryLimit    uint64        // bytes, the cgroup's memory limit; 0 for none
	MemoryLimitHit bool          // the memory limit was reached
	OOMKilled      bool          // the kernel's OOM killer killed a process in it
	CPU            time.Duration // user + system
	CPUUser        time.Duration
	CPUSystem      time.Duration
	PidsPeak       uint64
	PidsLimitHit   bool // a fork failed at the pids limit
}

func usageOf(s *cgroups.Stats) *Usage {
	return &Usage{MemoryPeak: s.MemoryPeak, MemoryLimit: s.MemoryLimit, MemoryLimitHit: s.MemoryLimitHit, OOMKilled: s.OOMKilled,
		CPU: s.CPUUsage, CPUUser: s.CPUUser, CPUSystem: s.CPUSystem, PidsPeak: s.PidsPeak, PidsLimitHit: s.PidsLimitHit}
}

// CgroupPaths maps each controller (cgroup v1) or "unified" (v2) to the
// directory of the child's own cgroup; nil when it has none. The
// directories exist until Wait returns.
func (p *Process) CgroupPaths() map[string]string {
	if p.cgroup == nil {
		return nil
	}
	return p.cgroup.Paths()
}

// Kill kills the child (and, in a new pid namespace, everything in it).
func (p *Process) Kill() error { return p.cmd.Process.Kill() }

// Wait waits for the child to exit and returns, in this order of
// precedence: a *SetupError if a sandbox step failed, a *PanicError if the
// function panicked, a *RemoteError if it returned a non-nil error, an
// *OOMError (wrapping the *ExitError) if the OOM killer killed it at its
// cgroup's memory limit, an *ExitError if the child ended in any other way
// than returning, or nil.
// Wait may be called more than once and from several goroutines.
func (p *Process) Wait() error {
	p.waitOnce.Do(func() { p.waitErr = p.wait() })
	return p.waitErr
}

func (p *Process) wait() error {
	werr := p.waitChild()
	close(p.release)
	p.ProcessState = p.cmd.ProcessState
	if p.cgroup != nil {
		if st, err := p.cgroup.Stats(); err == nil {
			p.usage = usageOf(st)
		}
		// Kills whatever is left in the cgroup, then removes it.
		p.cgroup.Destroy()
	}
	p.lease.release()
	// The child is gone; its end of the channel closes with it unless the
	// function handed it on, which close-on-exec prevents. Bound the wait
	// for the reader anyway.
	p.ctrl.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-p.readDone
	p.ctrl.Close()

	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.cmd.ProcessState
	if st == nil && p.pidfd >= 0 && werr == nil {
		if p.childErr != nil {
			return p.childErr
		}
		return ErrReparented
	}
	if st == nil {
		return fmt.Errorf("fork: wait: %w", werr)
	}
	if p.childErr != nil {
		return p.childErr
	}
	if st.Success() {
		switch {
		case !p.ready:
			return &ExitError{ProcessState: st, Reason: ErrNoInit.Error()}
		case !p.gotRes && !p.command:
			return &ExitError{ProcessState: st, Reason: "the function did not return (runtime.Goexit?)"}
		}
		return nil
	}
	ee := &ExitError{ProcessState: st}
	if p.oomKilled(ee) {
		return &OOMError{ExitError: ee, Usage: *p.usage}
	}
	if ee.Signal() == syscall.SIGSYS {
		return &SeccompError{ExitError: ee}
	}
	if p.readErr != nil {
		return p.readErr // the parent killed a child that broke the protocol
	}
	switch {
	case !p.ready:
		ee.Reason = reasonBeforeReady(st)
	}
	return ee
}

// read collects the child's frames until the channel closes.
func (p *Process) read(max uint32) {
	defer close(p.readDone)
	for {
		k, payload, err := wire.ReadFrame(p.ctrl, max)
		if err != nil {
			// A reset means the child exited with our request unread.
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
				p.mu.Lock()
				p.readErr = &ProtocolError{Err: err}
				p.mu.Unlock()
				if errors.Is(err, wire.ErrFrameTooLarge) {
					p.mu.Lock()
					p.readErr = &ProtocolError{Err: fmt.Errorf("%w: %v", ErrResultTooLarge, err)}
					p.mu.Unlock()
				}
				// A child that breaks the protocol is not trusted to end
				// on its own.
				p.cmd.Process.Kill()
			}
			return
		}
		if p.take(k, payload) && p.onApplied != nil {
			err := errors.New("the report of the applied settings cannot be read")
			if a := p.Applied(); a != nil {
				err = p.onApplied(p, a)
			}
			if err != nil {
				wire.WriteFrame(p.ctrl, wire.KindStop, []byte(err.Error()))
			} else {
				wire.WriteFrame(p.ctrl, wire.KindGo, nil)
			}
		}
	}
}

// reported marks that the function's outcome arrived (for Pool.Call).
func (p *Process) reported() {
	if p.outcome != nil {
		p.outOnce.Do(func() { close(p.outcome) })
	}
}

// take records the frame; true: it was the setup's report of what it
// applied (for OnApplied).
func (p *Process) take(k wire.Kind, payload []byte) (setupReport bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bad := func(err error) {
		if p.childErr == nil {
			p.childErr = &ProtocolError{Err: fmt.Errorf("%s frame: %w", k, err)}
		}
	}
	switch k {
	case wire.KindReady:
		p.ready = true
		if p.sigHold.on {
			p.sigHold.release(p.cmd.Process)
		}
		if p.readyCh != nil {
			p.readyOnce.Do(func() { close(p.readyCh) })
		}
	case wire.KindIdle:
		if p.idle != nil {
			p.idleOnce.Do(func() { close(p.idle) })
		}
	case wire.KindApplied:
		if p.gotApplied || p.ready {
			bad(errors.New("a report after the setup's, or after the function started"))
			return false
		}
		p.gotApplied = true
		// Checked now, decoded when asked for (Applied).
		if !json.Valid(payload) {
			bad(errors.New("the report is not JSON"))
			return false
		}
		p.applied, p.appliedJSON = nil, bytes.Clone(payload)
		return true
	case wire.KindResult:
		vals, err := wire.DecodeValues(payload)
		if err != nil {
			bad(err)
			return
		}
		types, _ := resultTypes(p.fn.fn.Type())
		if len(vals) != len(types) {
			bad(fmt.Errorf("%d results, %d expected", len(vals), len(types)))
			return
		}
		res := make([]any, len(vals))
		for i := range vals {
			v, err := decodeValue(&vals[i], types[i], nil)
			if err != nil {
				bad(fmt.Errorf("result %d: %w", i, err))
				return
			}
			res[i] = v.Interface()
		}
		p.results, p.gotRes = res, true
		p.reported()
	case wire.KindError:
		r, err := wire.DecodeRemoteError(payload)
		if err != nil {
			bad(err)
			return
		}
		p.gotRes = true
		p.childErr = &RemoteError{Msg: r.Msg, Type: r.Type, Errno: syscall.Errno(r.Errno)}
		p.reported()
	case wire.KindPanic:
		r, err := wire.DecodePanic(payload)
		if err != nil {
			bad(err)
			return
		}
		p.childErr = &PanicError{Value: r.Value, Type: r.Type, Stack: r.Stack}
		p.reported()
	case wire.KindSetup, wire.KindProtocol:
		se := new(SetupError)
		if err := json.Unmarshal(payload, se); err != nil {
			bad(fmt.Errorf("setup error: %w", err))
			return
		}
		if k == wire.KindProtocol {
			if se.Step == "dispatch" {
				p.childErr = &ProtocolError{Err: fmt.Errorf("%w in the child: %w (register it before fork.Init, in every process)", ErrNotRegistered, se)}
			} else {
				p.childErr = &ProtocolError{Err: fmt.Errorf("the child refused its request: %w", se)}
			}
			return
		}
		p.childErr = se
	default:
		bad(fmt.Errorf("unexpected frame"))
	}
	return false
}

// resultsInto copies p's results into pointers, for Call.
func (p *Process) resultsInto(out []any) error {
	res := p.Results()
	if len(out) > len(res) {
		return fmt.Errorf("fork: %d result pointers for %d results", len(out), len(res))
	}
	for i, o := range out {
		rv := reflect.ValueOf(o)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("fork: result %d: need a non-nil pointer, got %T", i, o)
		}
		v := reflect.ValueOf(res[i])
		if !v.IsValid() {
			rv.Elem().Set(reflect.Zero(rv.Elem().Type()))
			continue
		}
		if !v.Type().AssignableTo(rv.Elem().Type()) {
			return fmt.Errorf("fork: result %d is %s, not assignable to %s", i, v.Type(), rv.Elem().Type())
		}
		rv.Elem().Set(v)
	}
	return nil
}

// Call runs the registered function name isolated as opts says, waits for
// it, and returns its first result as T together with its error.
func Call[T any](ctx context.Context, name string, opts *sandbox.Options, args ...any) (T, error) {
	var zero T
	p, err := (*Config)(nil).Start(ctx, name, opts, args...)
	if err != nil {
		return zero, err
	}
	if err := p.Wait(); err != nil {
		if ctx != nil && ctx.Err() != nil {
			return zero, fmt.Errorf("fork: %w: %w", ctx.Err(), err)
		}
		return zero, err
	}
	var out T
	if err := p.resultsInto([]any{&out}); err != nil {
		return zero, err
	}
	return out, nil
}
