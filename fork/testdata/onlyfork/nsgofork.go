//go:build nsgofork

package main

import fork "github.com/nsfork/nsfork/gofork"

// The gofork side of onlyfork (-tags nsgofork): a program that imports only
// nsfork's go-fork drop-in, for TestGoForkOnlyDeps and TestGoForkOnlyInit.
func init() {
	fork.RegisterFunc("f", func() {})
	fork.Init()
}

func main() { run(fork.Fork) }
