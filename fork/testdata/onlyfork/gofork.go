//go:build gofork

package main

import fork "github.com/kraken-hpc/go-fork"

// The go-fork side of onlyfork: go-fork v0.1.1.
func init() {
	fork.RegisterFunc("f", func() {})
	fork.Init()
}

func main() { run(fork.Fork) }
