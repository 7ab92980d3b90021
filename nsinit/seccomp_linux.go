package nsinit

import (
	"fmt"

	"github.com/nsfork/nsfork/sandbox"
)

func loadFilter(o *sandbox.Options, cfg Config, a *Applied, early bool) error {
	if cfg.Filter == nil {
		if o.Seccomp != nil {
			return fail("seccomp", "load", "", fmt.Errorf("a profile without a compiled filter"))
		}
		return nil
	}
	// A filter without a profile is the launcher guard alone (package
	// fork), for a sandbox that shares the launcher's pid namespace. The
	// profile's flags came with the program.
	if err := cfg.Filter.Load(); err != nil {
		return fail("seccomp", "load filter", "", err)
	}
	a.Seccomp = &sandbox.SeccompReport{Instructions: cfg.Filter.Len(), Digest: cfg.Filter.Digest(), Early: early}
	return nil
}

// stepSeccompEarly: without no_new_privs the kernel takes a filter only from
// a process holding CAP_SYS_ADMIN, so it is loaded before the id change
// and the capability steps can take that away (the filter must then allow
// what those steps do).
func stepSeccompEarly(o *sandbox.Options, cfg Config, a *Applied) error {
	if o.NoNewPrivileges {
		return nil
	}
	return loadFilter(o, cfg, a, true)
}

// stepSeccomp loads the filter last, on every thread (TSYNC).
func stepSeccomp(o *sandbox.Options, cfg Config, a *Applied) error {
	if !o.NoNewPrivileges {
		return nil
	}
	return loadFilter(o, cfg, a, false)
}
