// Command both imports fork and gofork, registers a function of the same
// name in each, and forks both, for TestForkAndGoFork: each package's Init
// must run only the children its own Fork started. BOTH_ORDER=gofork-first
// calls gofork's Init before fork's (the default is fork's first).
package main

import (
	"fmt"
	"os"

	"github.com/nsfork/nsfork/fork"
	gofork "github.com/nsfork/nsfork/gofork"
)

var (
	viaFork   = fork.NewFork("same", func(s string) { fmt.Println("fork ran", s) })
	viaGoFork = gofork.NewFork("same", func(s string) { fmt.Println("gofork ran", s) })
)

func init() {
	fork.Register(viaFork)
	gofork.Register(viaGoFork)
	fork.RegisterFunc("forkonly", func() {})
	if os.Getenv("BOTH_ORDER") == "gofork-first" {
		gofork.Init()
		fork.Init()
	} else {
		fork.Init()
		gofork.Init()
	}
}

func main() {
	viaFork.Stdout, viaGoFork.Stdout = os.Stdout, os.Stdout
	if err := viaFork.Fork("via fork"); err != nil {
		fail("fork's Fork", err)
	}
	if err := viaGoFork.Fork("via gofork"); err != nil {
		fail("gofork's Fork", err)
	}
	// A name only fork knows: gofork refuses it before anything starts.
	if err := gofork.Fork("forkonly"); err == nil {
		fail("gofork.Fork(forkonly)", fmt.Errorf("no error"))
	}
	if err := viaFork.Wait(); err != nil {
		fail("fork's Wait", err)
	}
	if err := viaGoFork.Wait(); err != nil {
		fail("gofork's Wait", err)
	}
	fmt.Println("done")
}

func fail(what string, err error) {
	fmt.Fprintln(os.Stderr, what+":", err)
	os.Exit(1)
}
