package fork_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// Functions are registered, then fork.Init runs, in an init of the program
// (here: fork_test.go's init registers "add" and "sum"). Call runs one in
// the default sandbox; Config.Start returns the Process, whose results
// and report of the applied sandbox come back typed.
func Example() {
	n, err := fork.Call[int](context.Background(), "sum", sandbox.Default(), 1, 2, 3)
	fmt.Println(n, err)

	p, err := new(fork.Config).Start(context.Background(), "add", sandbox.Default(), 2, 40)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = p.Wait()
	fmt.Println(p.Results()[0], err, p.Applied().NoNewPrivileges)
	// Output:
	// 6 <nil>
	// 42 <nil> true
}

// A Process gives the results, typed.
func ExampleConfig_Start() {
	p, err := new(fork.Config).Start(context.Background(), "add", nil, 2, 40)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Wait(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Results()[0])
	// Output: 42
}

// Call runs a function in a sandbox and returns its first result.
func ExampleCall() {
	n, err := fork.Call[int](context.Background(), "sum", sandbox.Default(), 1, 2, 3)
	fmt.Println(n, err)
	// Output: 6 <nil>
}

// The function's own error comes back typed, with its errno.
func ExampleRemoteError() {
	p, _ := new(fork.Config).Start(context.Background(), "enoent", sandbox.Default())
	err := p.Wait()
	fmt.Println(errors.Is(err, syscall.ENOENT), err)
	// Output: true open /nonexistent/nsfork: no such file or directory
}

// The go-fork API: Fork starts, Wait waits; the child writes to the
// parent's stdout.
func ExampleFork() {
	if err := fork.Fork("printCompat", "hello from the child\n"); err != nil {
		fmt.Println(err)
		return
	}
	// Wait for every child of the registered Function.
	fmt.Println(printFn.Wait())
	// Output:
	// hello from the child
	// <nil>
}

// StartCommand runs a command in the same sandbox.
func ExampleConfig_StartCommand() {
	c := &fork.Config{Stdout: os.Stdout}
	p, err := c.StartCommand(context.Background(), sandbox.Default(), "/bin/sh", "-c", "echo inside; exit 3")
	if err != nil {
		fmt.Println(err)
		return
	}
	err = p.Wait()
	var ee *fork.ExitError
	fmt.Println(errors.As(err, &ee), ee.ExitCode())
	// Output:
	// inside
	// true 3
}

// A warm pool: children already isolated wait for a call; each serves one.
func ExamplePool_Call() {
	pool, err := fork.NewPool(sandbox.Default(), 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	for i := range 3 {
		res, err := pool.Call(context.Background(), "add", i, 40)
		fmt.Println(res[0], err)
	}
	// Output:
	// 40 <nil>
	// 41 <nil>
	// 42 <nil>
}
