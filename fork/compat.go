package fork

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"syscall"
)

// Function is a forkable function, as in github.com/kraken-hpc/go-fork.
// Its exported fields keep go-fork's names and meaning; unlike go-fork's, a
// Function may be forked any number of times, also concurrently, and its
// child's stdio defaults to the parent's.
type Function struct {
	// SysProcAttr holds optional attributes for the child, e.g. namespaces.
	SysProcAttr *syscall.SysProcAttr
	// Process is the most recently started child.
	Process *os.Process
	// ProcessState is the most recently waited-for child's state.
	ProcessState *os.ProcessState
	// Name identifies the function in the registry.
	Name string
	// Stdout, Stderr and Stdin of the child; nil means the parent's own.
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

// Wait waits for every child this Function started and not yet waited for,
// and returns their errors joined (see Process.Wait for what they are).
func (f *Function) Wait() error {
	f.mu.Lock()
	ps := f.pending
	f.pending = nil
	f.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Wait())
		f.mu.Lock()
		f.ProcessState = p.ProcessState
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Fork starts the registered function name with args, as go-fork's Fork.
func Fork(name string, args ...any) error {
	f, ok := lookup(name)
	if !ok {
		return fmt.Errorf("%w: %q (register it with fork.RegisterFunc before fork.Init)", ErrNotRegistered, name)
	}
	return f.Fork(args...)
}
