package nsinit

import (
	"fmt"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepBounding drops from the bounding set every capability that
// Capabilities.Bounding does not list. It runs before the id change,
// which may take away the CAP_SETPCAP it needs.
//
// The bounding set is per thread, and PR_CAPBSET_DROP drops one
// capability from the calling thread only: on every thread that is one
// all-threads call per capability. A new user namespace gives the child a
// full bounding set whatever its parent's was, so nothing can be dropped
// before the child runs. In command mode (Config.Exec) only this thread
// counts.
func stepBounding(o *sandbox.Options, cfg Config, _ *Applied) error {
	if !wantCaps(o) {
		return nil
	}
	bset, err := capSet(o.Capabilities.Bounding)
	if err != nil {
		return fail("capabilities", "bounding set", "", err)
	}
	// The parent may have dropped some already on the thread it
	// started us from (all our threads inherit that); drop the rest.
	have := ownStatus().capBnd
	last, _ := capability.LastCap()
	for c := capability.Cap(0); c <= last; c++ {
		if bset&(1<<c) != 0 || have&(1<<c) == 0 {
			continue
		}
		if err := dropBounding(cfg.Exec, c); err != nil {
			return err
		}
	}
	return nil
}

// dropBounding drops c from the bounding set of this thread (exec: see
// Config.Exec) or of every thread.
func dropBounding(exec bool, c capability.Cap) error {
	op := fmt.Sprintf("prctl PR_CAPBSET_DROP %s", c)
	if !exec {
		return allThreadsPrctl(op, unix.PR_CAPBSET_DROP, uintptr(c), 0)
	}
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
		return fail("capabilities", op, "", err)
	}
	return nil
}
