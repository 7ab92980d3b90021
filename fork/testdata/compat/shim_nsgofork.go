//go:build nsgofork

package main

import fork "github.com/nsfork/nsfork/gofork"

// The gofork side of the probe: nsfork's lean go-fork drop-in.
type Function = fork.Function

var (
	NewFork  = fork.NewFork
	Init     = fork.Init
	Register = fork.Register
)

const impl = "nsgofork"

// details: gofork's errors are go-fork's.
func details(err error) map[string]any { return nil }
