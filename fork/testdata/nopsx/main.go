// Command nopsx imports fork and sandbox but not github.com/nsfork/nsfork/psx
// (unless built with -tags psx, psx.go), for TestNoPSX: in a cgo build it
// forks a plain child, then asks for an isolated one with the caller's
// default sandbox, whose capability steps change every thread. It prints
// one line for each:
//
//	plain: ok | plain: ERROR
//	isolated: ok | isolated: nopsx ERROR | isolated: ERROR
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("ran", func() { fmt.Println("child: ran") })
	fork.Init()
}

func main() {
	c := &fork.Config{Stdout: os.Stdout, Stderr: os.Stderr}
	for _, tc := range []struct {
		name string
		opts *sandbox.Options
	}{{"plain", nil}, {"isolated", sandbox.Default()}} {
		p, err := c.Start(context.Background(), "ran", tc.opts)
		if err == nil {
			err = p.Wait()
		}
		switch {
		case err == nil:
			fmt.Println(tc.name + ": ok")
		case errors.Is(err, fork.ErrNoPSX):
			fmt.Println(tc.name+": nopsx", err)
		default:
			fmt.Println(tc.name+":", err)
		}
	}
}
