package nsinit

import (
	"os"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/nsfork/nsfork/sandbox"
)

// stepLandlock restricts the filesystem to the listed paths on every thread
// (go-landlock enforces through psx, like the capability steps).
func stepLandlock(o *sandbox.Options, _ Config, a *Applied) error {
	l := o.Landlock
	if l == nil {
		return nil
	}
	var rules []landlock.Rule
	for _, p := range l.ReadOnly {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			rules = append(rules, landlock.ROFiles(p))
		} else {
			rules = append(rules, landlock.RODirs(p))
		}
	}
	for _, p := range l.ReadWrite {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			rules = append(rules, landlock.RWFiles(p))
		} else {
			rules = append(rules, landlock.RWDirs(p))
		}
	}
	cfg := landlock.V5
	if l.BestEffort {
		cfg = cfg.BestEffort()
	}
	if err := cfg.RestrictPaths(rules...); err != nil {
		return fail("landlock", "restrict paths", "", err)
	}
	abi, _ := llsys.LandlockGetABIVersion()
	a.Landlock = &sandbox.LandlockReport{ABI: abi, BestEffort: l.BestEffort}
	return nil
}
