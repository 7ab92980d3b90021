// Package console makes the pseudo-terminal of an OCI process with
// process.terminal, as runc's console protocol has it: the terminal is
// made inside the container (from its /dev/ptmx, so that it belongs to the
// container's devpts), the slave becomes the process's stdio and
// controlling terminal, and the master goes to the caller's
// --console-socket as one SCM_RIGHTS message whose data is the terminal's
// name.
package console

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open opens a new pseudo-terminal from /dev/ptmx: the master, and the
// slave opened through the master (TIOCGPTPEER: no path lookup in
// /dev/pts, which the container could have replaced). Both are
// close-on-exec and named /dev/pts/N.
func Open() (master, slave *os.File, err error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console: open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("console: unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("console: TIOCGPTN: %w", err)
	}
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(m)
		return nil, nil, fmt.Errorf("console: TIOCGPTPEER: %w", errno)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	return os.NewFile(uintptr(m), name), os.NewFile(s, name), nil
}

// Send sends master over the connected unix socket sock.
func Send(sock int, master *os.File) error {
	if err := unix.Sendmsg(sock, []byte(master.Name()), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("console: send the terminal to the console socket: %w", err)
	}
	return nil
}

// OpenAndSend makes a terminal, sends its master to sock and returns the
// slave.
func OpenAndSend(sock int) (*os.File, error) {
	master, slave, err := Open()
	if err != nil {
		return nil, err
	}
	defer master.Close()
	if err := Send(sock, master); err != nil {
		slave.Close()
		return nil, err
	}
	return slave, nil
}

// Control makes slave the calling process's controlling terminal (in a new
// session) and its stdin, stdout and stderr.
func Control(slave *os.File) error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("console: setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("console: TIOCSCTTY %s: %w", slave.Name(), err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("console: dup3 %s onto %d: %w", slave.Name(), fd, err)
		}
	}
	return nil
}
