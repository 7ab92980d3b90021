package nsinit

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// stepStrayFDs closes every descriptor the child inherited by accident:
// one without close-on-exec that is neither stdio, nor in the range the
// parent passed on purpose (Config.FirstFD, Config.NumFDs), nor the staged
// request (Config.Staged). Descriptors the runtime or package initialisers
// opened are close-on-exec and stay.
func stepStrayFDs(c *child) error {
	first, n, keep := c.cfg.FirstFD, c.cfg.NumFDs, c.cfg.Staged
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		// No /proc: mark everything above the passed range close-on-exec
		// at least, so that nothing reaches an exec'ed program.
		unix.CloseRange(uint(first+n), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
		return nil
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
	return nil
}

// stepArguments lets the caller take the function and its arguments
// (Config.Arguments) once the time namespace is entered (their
// descriptors stay unread across its re-exec), and notes what is open
// then.
func stepArguments(c *child) error {
	if c.cfg.Arguments != nil {
		if err := c.cfg.Arguments(); err != nil {
			return err
		}
	}
	if c.o != nil {
		c.fds = openFDs()
	}
	return nil
}

// stepSetupFDs closes whatever the setup left open (a library's cached
// handle to a private /proc, say): it is not the function's, and with a
// root file system it could be a way back to what the sandbox hides.
func stepSetupFDs(c *child) error {
	if c.fds == nil {
		return nil
	}
	for fd := range openFDs() {
		if !c.fds[fd] {
			unix.Close(fd)
		}
	}
	return nil
}

// openFDs lists this process's open descriptors (nil without /proc).
func openFDs() map[int]bool {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	fds := map[int]bool{}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds[fd] = true
		}
	}
	return fds
}
