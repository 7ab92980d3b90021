// Command noinit registers a function but never calls fork.Init: the child
// runs main again, and must get an error instead of forking again.
package main

import (
	"fmt"
	"os"

	"github.com/nsfork/nsfork/fork"
)

func init() { fork.RegisterFunc("child", func() {}) }

func main() {
	p, err := fork.Start("child")
	if err != nil {
		fmt.Println("child-run:", err)
		os.Exit(3)
	}
	fmt.Println("parent:", p.Wait())
}
