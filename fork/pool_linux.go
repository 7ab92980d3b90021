package fork

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// ErrPoolClosed is returned by a closed Pool.
var ErrPoolClosed = errors.New("fork: pool closed")

// poolFunc is what a pooled child is started as: it stands for "set up the
// sandbox, then wait for the call".
var poolFunc = func() *Function {
	f := NewFork("nsfork:pool", func() {})
	Register(f)
	return f
}()

// A Pool keeps children already started and already isolated (namespaces,
// id maps, mounts, rlimits, cgroup, capabilities, seccomp all applied),
// each waiting on its channel. Start hands one the function and its
// arguments, and it runs at once; the one it hands it to is the child that
// waited least (where a process idle longer wakes slower). Each child serves exactly one call, so
// isolation is never shared between calls; the pool starts a replacement in
// the background. A child that died while waiting is replaced, never handed
// out. Descriptor arguments (*os.File), and the pipes that []byte and string
// arguments over 64 KiB travel in, go with the call over the child's
// channel (SCM_RIGHTS).
type Pool struct {
	cfg  Config
	opts *sandbox.Options
	size int
	argv []string // non-nil: a pool of commands (NewCommandPool)

	idle   *idleSet
	wake   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup // fill, and each child's watch goroutine
	mu     sync.Mutex
	closed bool
	err    error // the last start failure, for Start to report
}

// NewPool starts size children isolated as opts says. It returns once the
// first of them is ready, so a configuration that cannot start is an error
// here.
func NewPool(opts *sandbox.Options, size int) (*Pool, error) {
	return (&Config{}).NewPool(opts, size)
}

// NewPool is NewPool with c's settings for every child (stdio, KeepAlive,
// MaxResult). OnApplied is not used.
func (c *Config) NewPool(opts *sandbox.Options, size int) (*Pool, error) {
	return c.newPool(opts, size, nil)
}

func (c *Config) newPool(opts *sandbox.Options, size int, argv []string) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("fork: pool size %d, want at least 1", size)
	}
	if opts == nil {
		opts = &sandbox.Options{}
	}
	if _, err := planIsolation(opts); err != nil {
		return nil, err
	}
	cfg := *c
	cfg.OnApplied = nil
	cfg.pooled = true
	p := &Pool{cfg: cfg, opts: opts, size: size, argv: argv, idle: newIdleSet(size),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	first, err := p.spawn()
	if err != nil {
		return nil, err
	}
	p.watch(first)
	p.idle.put(first)
	p.wg.Add(1)
	go p.fill(size - 1)
	return p, nil
}

// spawn starts one child and waits until it is set up and idle.
func (p *Pool) spawn() (*Process, error) {
	child, err := launchMode(context.Background(), &p.cfg, poolFunc, p.opts, nil, p.argv)
	if err != nil {
		return nil, err
	}
	select {
	case <-child.idle:
		return child, nil
	case <-child.readDone:
		// It died before it was ready: its Wait says why.
		err := child.Wait()
		if err == nil {
			err = errors.New("fork: pooled child exited before it was ready")
		}
		return nil, err
	}
}

// fill keeps the pool at its size until it is closed.
func (p *Pool) fill(missing int) {
	defer p.wg.Done()
	for {
		for missing > 0 {
			select {
			case <-p.done:
				return
			default:
			}
			child, err := p.spawn()
			if err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				select { // back off, then try again
				case <-p.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			p.mu.Lock()
			closed := p.closed
			if !closed {
				p.watch(child)
				p.idle.put(child)
			}
			p.mu.Unlock()
			if closed {
				child.Kill()
				child.Wait()
				return
			}
			missing--
		}
		select {
		case <-p.done:
			return
		case <-p.wake:
			missing = p.size - p.idle.len()
		}
	}
}

// Start runs the registered function name with args in a pooled child and
// returns it once the function runs; Wait, Results and the rest work as
// for ForkIsolated. When no child is ready, Start waits for one, or for ctx.
func (p *Pool) Start(ctx context.Context, name string, args ...any) (*Process, error) {
	child, err := p.start(ctx, false, name, args)
	if err == nil {
		p.letGo(child, owned)
	}
	return child, err
}

// start hands the call to an idle child (its caller then lets go of it with
// letGo: owned or reaped). It returns once the child says the
// function runs or, with toResult (Call), once the function's outcome
// arrived: Call's goroutine then wakes once per call instead of twice. A
// child that dies before saying the function runs never ran it, and the
// call goes to the next one either way.
func (p *Pool) start(ctx context.Context, toResult bool, name string, args []any) (*Process, error) {
	f, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (register it with fork.RegisterFunc before fork.Init)", ErrNotRegistered, name)
	}
	if (p.argv != nil) != (f == pooledExecFunc) {
		return nil, fmt.Errorf("%w: %q: a pool of commands takes only StartCommand, a pool of functions no command", ErrArgs, name)
	}
	// Descriptor arguments (*os.File, and the pipes of []byte over
	// inlineMax) are numbered from 0 and travel with the call frame. A
	// child that dies after taking the call has used up the pipes: the
	// next attempt encodes afresh.
	encode := func() (*outgoing, []byte, error) {
		out, err := encodeArgs(f.Name, f.fn.Type(), args, 0)
		if err != nil {
			return nil, nil, err
		}
		if len(out.files) > maxPassedFDs {
			out.close()
			return nil, nil, fmt.Errorf("%w: %s: %d descriptor arguments, at most %d in a pooled call", ErrArgs, name, len(out.files), maxPassedFDs)
		}
		return out, wire.EncodeRequest(&wire.Request{Version: wire.Version, Name: f.Name, Args: out.args}), nil
	}
	out, call, err := encode()
	if err != nil {
		return nil, err
	}
	defer func() { out.close() }()
	for {
		var child *Process
		select {
		case <-p.idle.avail:
			child = p.idle.pop()
		default:
			// None ready: the replacements start now, not when the
			// children handed over end.
			p.refill()
			select {
			case <-p.idle.avail:
				child = p.idle.pop()
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-p.done:
				return nil, ErrPoolClosed
			}
		}
		select {
		case <-child.readDone: // died while waiting: replace, never hand out
			p.refill()
			p.letGo(child, dropped)
			child.Wait()
			continue
		default:
		}
		if out == nil {
			if out, call, err = encode(); err != nil {
				p.refill()
				p.letGo(child, dropped)
				child.Kill()
				child.Wait()
				out = &outgoing{}
				return nil, err
			}
		}
		child.mu.Lock()
		child.fn = f
		child.mu.Unlock()
		if err := writeFrameRights(child.ctrl, wire.KindCall, call, out.files); err != nil {
			p.refill()
			p.letGo(child, dropped)
			child.Kill()
			child.Wait()
			continue
		}
		// The child has its read ends now: a write to a pipe it never
		// reads fails instead of blocking if it dies.
		out.closeOwned()
		out.sendBulk()
		// Handed over only once the child says the function runs: one that
		// died meanwhile never ran it, and the call goes to the next.
		handed := child.readyCh
		if toResult {
			handed = child.outcome
		}
		select {
		case <-handed:
		case <-child.readDone:
			child.mu.Lock()
			ran := child.ready
			child.mu.Unlock()
			if ran { // it ended after the function started: Call reports it
				p.refill()
				return child, nil
			}
			p.refill()
			if p.argv != nil {
				// A command is never handed to a second child: it may have
				// started before the child could say so (pid 1 starts it,
				// then reports), and running it again would run it twice.
				// Wait reports how this one ended (not found, no working
				// directory: the child said why).
				return child, nil
			}
			p.letGo(child, dropped)
			child.Wait()
			out.close()
			out = nil
			continue
		case <-ctx.Done():
			p.letGo(child, dropped)
			child.Kill()
			child.Wait()
			return nil, ctx.Err()
		}
		if ctx.Done() != nil {
			go func() {
				select {
				case <-ctx.Done():
					child.Kill()
				case <-child.readDone:
				}
			}()
		}
		return child, nil
	}
}

// Call runs the registered function name with args in a pooled child and
// returns the function's results (without its trailing error), typed as
// the function declares them, as soon as the child reports them: the
// child's exit and the end of its namespaces are reaped in the background
// (Close waits for them), not on the caller's clock. The error is the
// function's own (*RemoteError) as soon as it arrives; a child that ends
// without reporting gives what Wait gives (*PanicError, *ExitError, ...).
func (p *Pool) Call(ctx context.Context, name string, args ...any) ([]any, error) {
	child, err := p.start(ctx, true, name, args)
	if err != nil {
		return nil, err
	}
	child.mu.Lock()
	res, got, ferr := child.results, child.gotRes, child.childErr
	child.mu.Unlock()
	if !got {
		p.letGo(child, owned)
		err := child.Wait()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return child.Results(), err
	}
	p.letGo(child, reaped)
	return res, ferr
}

// When the replacement of a child handed over starts: once that child
// ended (its call, function or command done; in a pool of commands
// refillSettle later, as the caller still hands the outcome on: sandboxrun
// --warm's server to its client, which then exits), at most refillAfter
// after the hand-over, and at once when a caller finds no child ready
// (start). A start is a fork of this process, an exec and a Go runtime
// coming up: CPU the function or command just handed over would otherwise
// compete with. On 2 vCPUs, starting it 2 ms after the hand-over made a
// warm sandboxrun launch after a pause 46.3-47.5 ms at p50, starting it
// 25 ms after the command 34.0-39.3 ms (docs/speed.md). The start's CPU is
// the same either way: what runs next pays it instead.
var (
	refillSettle = 25 * time.Millisecond
	refillAfter  = 60 * time.Millisecond
)

// handOver says how the pool let go of a child it had taken from its idle set.
type handOver uint8

const (
	dropped handOver = iota // never handed out: start replaced and reaped it
	owned                   // handed to the caller (Start), who reaps it
	reaped                  // handed to Call, which returned: the pool reaps it
)

// watch starts the goroutine that, once the child is let go of, asks for
// its replacement (refillSettle, refillAfter) and, for Call, reaps it (Close waits
// for that). It starts when the child goes into the idle set, so the hand-over
// itself starts no goroutine and no timer: on the call's clock a send on a
// buffered channel is all that is left of both.
func (p *Pool) watch(child *Process) {
	child.handed = make(chan handOver, 1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var how handOver
		select {
		case how = <-child.handed:
		case <-p.done:
			select {
			case how = <-child.handed:
			default:
				// Closed: an idle child is let go of by Close; one
				// being handed a call now is let go of later, and Close
				// does not wait for that call.
				go func() {
					if <-child.handed == reaped {
						child.Wait()
					}
				}()
				return
			}
		}
		if how == dropped {
			return
		}
		if p.refillDue(child) {
			p.refill()
		}
		if how == reaped {
			child.Wait()
		}
	}()
}

// refillDue waits until the replacement of child, which was handed over,
// is due; false: the pool closed meanwhile.
func (p *Pool) refillDue(child *Process) bool {
	after := time.NewTimer(refillAfter)
	defer after.Stop()
	select {
	case <-child.readDone:
	case <-after.C:
		return true
	case <-p.done:
		return false
	}
	if p.argv == nil {
		return true
	}
	settle := time.NewTimer(refillSettle)
	defer settle.Stop()
	select {
	case <-settle.C:
		return true
	case <-p.done:
		return false
	}
}

// letGo tells child's watch goroutine how the pool let go of it; every child
// taken from the idle set is let go of exactly once.
func (p *Pool) letGo(child *Process, how handOver) {
	child.handed <- how
}

// refill asks the background filler for a replacement, after the call is
// handed over so that the new child's start does not delay it.
func (p *Pool) refill() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Close stops refilling, kills the idle children and waits for them, and
// for the children Call returned from to be reaped. Children already handed
// out by Start are the caller's; a call being handed over as Close runs is
// not waited for (its child is reaped when it ends).
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	// No child enters the idle set once closed (fill checks under mu): the idle
	// ones are let go of here, then every watch goroutine ends (the ones of
	// Call's children once they are reaped), and fill.
	for {
		select {
		case <-p.idle.avail:
			child := p.idle.pop()
			p.letGo(child, dropped)
			child.Kill()
			child.Wait()
			continue
		default:
		}
		break
	}
	p.wg.Wait()
	return nil
}

// Err returns the last error a background start met, if any.
func (p *Pool) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
