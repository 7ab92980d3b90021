package fork

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// checkRootfsOwner refuses, in builds whose per-thread steps find the
// threads through /proc by path (cgo: libpsx), a root file system another
// user can change: its owner could rename its proc directory once the
// child verified the mount and hand libpsx a stand-in that lists no
// threads (or none at all, which makes libpsx kill the sandbox's pid 1 and
// hang the start). A root file system of the caller's or root's, writable
// by nobody else, is safe; CGO_ENABLED=0 builds need no /proc for this.
func checkRootfsOwner(o *sandbox.Options) error {
	if !nsinit.ThreadsThroughProc || o.Root == nil || o.Root.Path == "/" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(o.Root.Path, &st); err != nil {
		return nil // Validate names a missing root
	}
	euid := uint32(os.Geteuid())
	if (st.Uid == euid || st.Uid == 0) && st.Mode&0o022 == 0 {
		return nil
	}
	return &SetupError{Step: "rootfs", Op: "check owner (cgo build)", Path: o.Root.Path, Errno: syscall.EPERM,
		Err: fmt.Errorf("owned by uid %d (mode %#o): another user could swap its /proc under the setup, which a cgo build's libpsx reads by path; use a root file system only you (or root) can write, or build with CGO_ENABLED=0",
			st.Uid, st.Mode&0o7777)}
}
