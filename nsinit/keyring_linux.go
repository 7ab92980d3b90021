package nsinit

import (
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepKeyring reports the session keyring the sandbox runs with. With
// Options.NewSessionKeyring the parent made it: a new, empty, anonymous
// keyring joined on the thread that started the child just before the
// start (fork's spawner), so every thread of the child has it from its
// first instruction; joining here would take an all-threads call, and a
// keyring joined on one thread cannot be joined by name on the others
// without granting search on it. The session keyring matters because the
// keys in it are possessed by whoever has it as session keyring, whatever
// the uid.
func stepKeyring(o *sandbox.Options, _ Config, a *Applied) error {
	if !o.NewSessionKeyring {
		return nil
	}
	id, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		return fail("keyring", "keyctl GET_KEYRING_ID session", "", err)
	}
	a.SessionKeyring = id
	return nil
}
