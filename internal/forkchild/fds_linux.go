package forkchild

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseStray closes every descriptor the child inherited by accident: one
// without close-on-exec that is neither stdio, nor in the range the
// parent passed on purpose (first to first+n-1), nor keep (-1: none).
// Descriptors the runtime or package initialisers opened are close-on-exec
// and stay.
func CloseStray(first, n, keep int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		// No /proc: mark everything above the passed range close-on-exec
		// at least, so that nothing reaches an exec'ed program.
		unix.CloseRange(uint(first+n), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 || (fd >= first && fd < first+n) || fd == keep {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}
