package nsinit

import (
	"github.com/nsfork/nsfork/sandbox"
)

// SeccompReport says what filter was loaded.
type SeccompReport struct {
	Instructions int    `json:"instructions"`
	Digest       string `json:"digest"`
}

// stepSeccomp loads the profile last, on every thread.
func stepSeccomp(o *sandbox.Options, _ Config, a *Applied) error {
	if o.Seccomp == nil {
		return nil
	}
	return unsupported("seccomp", "seccomp profiles (not built yet)")
}
