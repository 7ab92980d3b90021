package fork

import "golang.org/x/sys/unix"

// no_new_privs' parent half (the child's is nsinit/nonewprivs_linux.go):
// a child inherits the starting thread's no_new_privs, so the spawner
// thread (pdeathsig_linux.go) of a sandbox that asks for it sets it on
// itself once, a cheap thread-local prctl, instead of the child making an
// all-threads call. Best effort by design: the child checks it and
// completes it.

// spawnKey says what the spawner thread sets up for the child:
// no_new_privs, which the child inherits and which takes no capability
// away from its setup. (The bounding set cannot be dropped there: it
// bounds the capabilities the child gets at exec, which setup needs.)
func (p *isolation) spawnKey() spawnKey {
	return spawnKey{nnp: p.opts.NoNewPrivileges, keyring: p.opts.NewSessionKeyring}
}

// setThreadNoNewPrivs sets no_new_privs on the calling thread, which must
// be locked to it for good.
func setThreadNoNewPrivs() {
	unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
}
