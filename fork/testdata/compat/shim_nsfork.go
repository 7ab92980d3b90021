//go:build !gofork && !nsgofork

package main

import (
	"errors"

	"github.com/nsfork/nsfork/fork"
)

// The nsfork side of the probe: nsfork's go-fork compatible API.
type Function = fork.Function

var (
	NewFork  = fork.NewFork
	Init     = fork.Init
	Register = fork.Register
)

const impl = "nsfork"

// details: what nsfork's richer errors carry.
func details(err error) map[string]any {
	d := map[string]any{}
	var pe *fork.PanicError
	if errors.As(err, &pe) {
		d["panicValue"] = pe.Value
		d["panicStack"] = pe.Stack
	}
	var re *fork.RemoteError
	if errors.As(err, &re) {
		d["remote"] = re.Msg
	}
	return d
}
