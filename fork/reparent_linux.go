package fork

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ErrReparented is what Wait returns for a child started with
// Config.Reparent once it has exited: it was the child of this process's
// parent (CLONE_PARENT), whose wait collects its exit status, so this
// process has none to give. The cgroup, the lease of host ids and the
// channel are released as after any Wait.
var ErrReparented = errors.New("fork: the child has exited; its exit status went to its parent (Config.Reparent)")

// waitChild waits for the child: by wait(2) if it is ours, else by polling
// the pidfd taken at the clone, which becomes readable when the child
// exits (whether or not its parent has reaped it).
func (p *Process) waitChild() error {
	if p.pidfd < 0 {
		return p.cmd.Wait()
	}
	defer unix.Close(p.pidfd)
	fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		return nil
	}
}
