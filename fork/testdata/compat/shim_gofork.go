//go:build gofork

package main

import fork "github.com/kraken-hpc/go-fork"

// The go-fork side of the probe: go-fork v0.1.1.
type Function = fork.Function

var (
	NewFork  = fork.NewFork
	Init     = fork.Init
	Register = fork.Register
)

const impl = "gofork"

// details: go-fork has no error types of its own.
func details(err error) map[string]any { return nil }
