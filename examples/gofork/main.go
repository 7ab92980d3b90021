// Command gofork is go-fork's own README example, unchanged except for the
// import path: the parent's and the child's line are both printed.
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/nsfork/nsfork/fork"
)

func init() {
	fork.RegisterFunc("child", child)
	fork.Init()
}

func child(n int) {
	fmt.Printf("child(%d) pid: %d\n", n, os.Getpid())
}

func main() {
	fmt.Printf("main() pid: %d\n", os.Getpid())
	if err := fork.Fork("child", 1); err != nil {
		log.Fatalf("failed to fork: %v", err)
	}
}
