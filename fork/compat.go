package fork

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"syscall"
)

// Function is a forkable function, as in github.com/kraken-hpc/go-fork.
// Its exported fields keep go-fork's names and meaning; unlike go-fork's, a
// Function may be forked any number of times, also concurrently, and its
// child's stdout and stderr default to the parent's.
type Function struct {
	// SysProcAttr holds optional attributes for the child, e.g. namespaces.
	SysProcAttr *syscall.SysProcAttr
	// Process is the most recently started child.
	Process *os.Process
	// ProcessState is the most recently waited-for child's state.
	ProcessState *os.ProcessState
	// Name identifies the function in the registry.
	Name string
	// Stdout, Stderr and Stdin of the child. A nil Stdout or Stderr means
	// the parent's own; a nil Stdin means /dev/null, as with os/exec.
	Stdout *os.File
	Stderr *os.File
	Stdin  *os.File

	fn   reflect.Value
	argv []string

	mu      sync.Mutex
	pending []*Process
}

// NewFork makes a Function named n that runs fn. argv, if given, is the
// child's argument vector (argv[0] is what ps shows). Like go-fork's, it
// returns nil when fn is not a function.
func NewFork(n string, fn any, argv ...string) *Function {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil
	}
	return &Function{Name: n, fn: v, argv: argv}
}

// Fork starts the function in a child with args. The child outlives the
// parent unless SysProcAttr says otherwise, as with go-fork; call Wait to
// wait for it.
func (f *Function) Fork(args ...any) error {
	if f == nil {
		return fmt.Errorf("%w: Fork on a nil *Function", ErrNotRegistered)
	}
	if !f.fn.IsValid() {
		return fmt.Errorf("%w: %q has no function (use NewFork)", ErrNotRegistered, f.Name)
	}
	c := &Config{Args: f.argv, SysProcAttr: f.SysProcAttr, KeepAlive: true}
	// Typed nil *os.File must not become a non-nil io.Reader/Writer.
	if f.Stdin != nil {
		c.Stdin = f.Stdin
	} else {
		// go-fork's child never read the parent's stdin: go-fork handed
		// os/exec a nil *os.File, which closes the child's fd 0. /dev/null
		// (os/exec's own default) is the safe form of that: a read gets
		// EOF, and no file the child opens becomes its stdin by accident.
		null, err := os.Open(os.DevNull)
		if err != nil {
			return fmt.Errorf("fork: stdin: %w", err)
		}
		defer null.Close()
		c.Stdin = null
	}
	if f.Stdout != nil {
		c.Stdout = f.Stdout
	}
	if f.Stderr != nil {
		c.Stderr = f.Stderr
	}
	p, err := launch(context.Background(), c, f, nil, args)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.Process = p.cmd.Process
	f.pending = append(f.pending, p)
	f.mu.Unlock()
	return nil
}

// Wait waits for every child this Function started and not yet waited for.
// As with go-fork, a child that exited 0 succeeded, whether its function
// returned, called os.Exit(0) or exec'ed a program that exited 0. A plain
// non-zero exit or a signal is an *exec.ExitError ("exit status 3",
// "signal: killed"). When the child said more, the error is nsfork's
// richer one (a *PanicError, *RemoteError, *SetupError, *ProtocolError or
// *ExitError, see Process.Wait), and errors.As finds the *exec.ExitError in
// it too. With several children their errors are joined.
func (f *Function) Wait() error {
	f.mu.Lock()
	ps := f.pending
	f.pending = nil
	f.mu.Unlock()
	var errs []error
	for _, p := range ps {
		if err := compatError(p, p.Wait()); err != nil {
			errs = append(errs, err)
		}
		f.mu.Lock()
		f.ProcessState = p.ProcessState
		f.mu.Unlock()
	}
	if len(errs) == 1 {
		// Unjoined, so that err.(*exec.ExitError) holds as with go-fork.
		return errs[0]
	}
	return errors.Join(errs...)
}

// compatError turns what Process.Wait returned into what go-fork's Wait
// returned for the same end of the child.
func compatError(p *Process, err error) error {
	st := p.ProcessState
	if err == nil || st == nil {
		return err
	}
	if ee, ok := err.(*ExitError); ok {
		p.mu.Lock()
		ran := p.ready
		p.mu.Unlock()
		switch {
		case st.Success() && ran:
			// The function ran and the child exited 0 without returning
			// (os.Exit(0), or an exec'ed program that exited 0). A child
			// that exited 0 before its function ran (fork.Init was never
			// called) stays an error.
			return nil
		case !st.Success() && (ee.Reason == "" || killedBySignal(st)):
			// A kill is go-fork's "signal: killed" also when it came
			// before the function ran (a child slow to start).
			return &exec.ExitError{ProcessState: st}
		}
		return err
	}
	var xe *exec.ExitError
	if st.Success() || errors.As(err, &xe) {
		return err
	}
	return &childError{err: err, exit: &exec.ExitError{ProcessState: st}}
}

func killedBySignal(st *os.ProcessState) bool {
	ws, ok := st.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// childError is what a child reported (a panic, its function's error, a
// failed step) together with its exit status, for the go-fork API: the text
// is the report's, and errors.As finds either.
type childError struct {
	err  error
	exit *exec.ExitError
}

func (e *childError) Error() string   { return e.err.Error() }
func (e *childError) Unwrap() []error { return []error{e.err, e.exit} }

// Fork starts the registered function name with args, as go-fork's Fork.
func Fork(name string, args ...any) error {
	f, ok := lookup(name)
	if !ok {
		return fmt.Errorf("%w: %q (register it with fork.RegisterFunc before fork.Init)", ErrNotRegistered, name)
	}
	return f.Fork(args...)
}
