// Command noinit registers a function but never calls gofork's Init: the
// child runs main again, where Fork must refuse (no fork bomb), and the
// parent's Wait must fail although that child exits 0.
package main

import (
	"fmt"
	"os"

	fork "github.com/nsfork/nsfork/gofork"
)

func init() { fork.RegisterFunc("child", func() {}) }

func main() {
	f := fork.NewFork("child", func() {})
	fork.Register(f)
	if err := f.Fork(); err != nil {
		fmt.Println("child-run:", err)
		os.Exit(0)
	}
	fmt.Println("parent:", f.Wait())
}
