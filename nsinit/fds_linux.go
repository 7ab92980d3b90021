package nsinit

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/forkchild"
)

// stepStrayFDs closes every descriptor the child inherited by accident
// (forkchild.CloseStray): not stdio, the range the parent passed on
// purpose (Config.FirstFD, Config.NumFDs) or the staged request
// (Config.Staged).
func stepStrayFDs(c *child) error {
	forkchild.CloseStray(c.cfg.FirstFD, c.cfg.NumFDs, c.cfg.Staged)
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
