//go:build !gofork && !nsgofork

// Command onlyfork imports the fork package and nothing else of nsfork, as
// a go-fork user does after the import swap: TestForkOnlyDeps lists the
// modules it links, and TestForkOnlyInit compares its package
// initialisation with the same program built against go-fork v0.1.1
// (-tags gofork, gofork.go).
//
//	onlyfork        initialise and exit
//	onlyfork fork   also fork the registered function once
package main

import "github.com/nsfork/nsfork/fork"

func init() {
	fork.RegisterFunc("f", func() {})
	fork.Init()
}

func main() { run(fork.Fork) }
