// Package llrestrict enforces Landlock path rules on every thread with
// go-landlock, which goes through libcap's psx: nsinit reaches it through
// internal/allthreads, so that a cgo program links it (and libpsx) only
// when it imports github.com/nsfork/nsfork/psx.
package llrestrict

import (
	"os"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// Restrict restricts every thread to reading ro and reading and writing
// rw (a path that is not a directory gets the rights of a file), with
// Landlock ABI 5, or what the kernel has when bestEffort, and returns the
// kernel's ABI version.
func Restrict(ro, rw []string, bestEffort bool) (int, error) {
	var rules []landlock.Rule
	for _, p := range ro {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			rules = append(rules, landlock.ROFiles(p))
		} else {
			rules = append(rules, landlock.RODirs(p))
		}
	}
	for _, p := range rw {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			rules = append(rules, landlock.RWFiles(p))
		} else {
			rules = append(rules, landlock.RWDirs(p))
		}
	}
	cfg := landlock.V5
	if bestEffort {
		cfg = cfg.BestEffort()
	}
	if err := cfg.RestrictPaths(rules...); err != nil {
		return 0, err
	}
	abi, _ := llsys.LandlockGetABIVersion()
	return abi, nil
}
