package fork

import "golang.org/x/sys/unix"

// The session keyring's parent half (the child's, which reports it, is
// nsinit/keyring_linux.go).

// joinNewSessionKeyring gives the calling thread, and so the children it
// starts, a new, empty, anonymous session keyring
// (sandbox.Options.NewSessionKeyring): the keys of the caller's session
// keyring are possessed by whoever has it as session keyring, whatever its
// uid. Only a thread that starts children does this: it is never the
// thread of any other code.
func joinNewSessionKeyring() error {
	if _, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); e != 0 {
		return &SetupError{Step: "keyring", Op: "keyctl JOIN_SESSION_KEYRING (a new session keyring for the sandbox)", Errno: e}
	}
	return nil
}
