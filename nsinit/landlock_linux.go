package nsinit

import (
	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/sandbox"
)

// stepLandlock restricts the filesystem to the listed paths on every thread
// (go-landlock enforces through psx, like the capability steps; in a cgo
// build only when the program imports github.com/nsfork/nsfork/psx).
func stepLandlock(o *sandbox.Options, _ Config, a *Applied) error {
	l := o.Landlock
	if l == nil {
		return nil
	}
	abi, err := allthreads.Landlock(l.ReadOnly, l.ReadWrite, l.BestEffort)
	if err != nil {
		return fail("landlock", "restrict paths", "", err)
	}
	a.Landlock = &sandbox.LandlockReport{ABI: abi, BestEffort: l.BestEffort}
	return nil
}
