// Command noinit registers a function but never calls fork.Init: the child
// runs main again, and must get an error instead of forking again.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/nsfork/nsfork/fork"
)

func init() { fork.RegisterFunc("child", func() {}) }

func main() {
	p, err := new(fork.Config).Start(context.Background(), "child", nil)
	if err != nil {
		fmt.Println("child-run:", err)
		os.Exit(3)
	}
	fmt.Println("parent:", p.Wait())
}
