package nsinit

import (
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/sandbox"
)

// stepNoNewPrivs sets no_new_privs on every thread. The parent sets it on
// the thread that starts the child where it can (fork/nonewprivs_linux.go):
// the child then has it on every thread from its first instruction, and
// this step finds it set.
func stepNoNewPrivs(o *sandbox.Options, _ Config, a *Applied) error {
	if !o.NoNewPrivileges {
		return nil
	}
	if ownStatus().noNewPrivs {
		// Inherited from the parent's starting thread, so on every thread.
		a.NoNewPrivileges = true
		return nil
	}
	if err := psxUsable("prctl PR_SET_NO_NEW_PRIVS"); err != nil {
		return err
	}
	if _, _, e := allthreads.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fail("no_new_privs", "prctl PR_SET_NO_NEW_PRIVS", "", e)
	}
	a.NoNewPrivileges = true
	return nil
}
