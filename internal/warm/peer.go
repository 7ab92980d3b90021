package warm

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrNoPeerPidfd: the kernel cannot pin a connection's peer
// (SO_PEERPIDFD, Linux 6.5). Without it a server could not tell its caller
// from a process that took the caller's pid after it exited, so the warm
// path is refused there (sandboxrun --warm exits 125), never served on
// the caller's pid alone.
var ErrNoPeerPidfd = errors.New("warm: this kernel lacks SO_PEERPIDFD (Linux 6.5 or later): a pool's server could not tell its caller from a process that took the caller's pid, so --warm is refused; launch without --warm")

// PeerPidfdSupported returns ErrNoPeerPidfd on a kernel without
// SO_PEERPIDFD, nil where the server can pin its callers.
func PeerPidfdSupported() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("warm: socketpair: %w", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	pidfd, err := peerPidfd(fds[0])
	if err != nil {
		return err
	}
	unix.Close(pidfd)
	return nil
}

func peerPidfd(sock int) (int, error) {
	pidfd, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	switch {
	case errors.Is(err, unix.ENOPROTOOPT):
		return -1, ErrNoPeerPidfd
	case err != nil:
		return -1, fmt.Errorf("warm: getsockopt SO_PEERPIDFD: %w", err)
	}
	unix.CloseOnExec(pidfd)
	return pidfd, nil
}

// pinnedPeer is the process at the other end of a connection, pinned by a
// pidfd: what the server reads from /proc/PID about its caller is the
// caller's only if the pidfd's process still holds PID when the reading
// is done (a pid is free for reuse only once its process was reaped).
type pinnedPeer struct {
	pid   int
	pidfd int
}

// pinPeer pins the peer of c, whose pid SO_PEERCRED gave as pid. A peer
// that is gone already (its pidfd holds no pid, or another) is an error.
func pinPeer(c *net.UnixConn, pid int) (*pinnedPeer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	pidfd := -1
	var perr error
	if err := raw.Control(func(fd uintptr) { pidfd, perr = peerPidfd(int(fd)) }); err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, perr
	}
	p := &pinnedPeer{pid: pid, pidfd: pidfd}
	if err := p.check(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// check verifies that the pidfd's process still holds the pid: then all
// that was read about that pid before the call was read about the peer.
func (p *pinnedPeer) check() error { return pidfdHolds(p.pidfd, p.pid) }

func (p *pinnedPeer) close() { unix.Close(p.pidfd) }

// pidfdHolds returns nil if the process of pidfd holds pid (in this
// process's /proc), as its fdinfo says; -1 there is a process that ended
// and was reaped.
func pidfdHolds(pidfd, pid int) error {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return fmt.Errorf("warm: the caller's pidfd: %w", err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		v, ok := bytes.CutPrefix(l, []byte("Pid:"))
		if !ok {
			continue
		}
		held, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		switch {
		case err != nil:
			return fmt.Errorf("warm: the caller's pidfd: fdinfo %q: %w", l, err)
		case held == pid:
			return nil
		case held < 0:
			return fmt.Errorf("warm: the caller (pid %d) has exited: what /proc/%d shows is no longer the caller's", pid, pid)
		}
		return fmt.Errorf("warm: the caller's pidfd holds pid %d, not %d", held, pid)
	}
	return fmt.Errorf("warm: the caller's pidfd: no Pid line in its fdinfo")
}
