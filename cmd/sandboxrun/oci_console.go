package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The console of runc's protocol: with process.terminal the runtime makes
// a pseudo-terminal inside the container (its /dev/ptmx, so the terminal
// belongs to the container's devpts), makes the slave the process's
// controlling terminal and stdio, and sends the master to the caller's
// --console-socket as one SCM_RIGHTS message whose data is the terminal's
// name.

// openPty opens a new pseudo-terminal from /dev/ptmx: the master, and the
// slave opened through the master (TIOCGPTPEER: no path lookup in
// /dev/pts, which the container could have replaced).
func openPty() (master, slave *os.File, err error) {
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

// sendConsole sends the master to the console socket, as runc does.
func sendConsole(sock, master *os.File) error {
	if err := unix.Sendmsg(int(sock.Fd()), []byte(master.Name()), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("console: send the terminal to the console socket: %w", err)
	}
	return nil
}

// execConsole makes a terminal the calling process's controlling terminal
// and stdio (a new session), and sends its master to sock.
func execConsole(sock *os.File) error {
	master, slave, err := openPty()
	if err != nil {
		return err
	}
	defer master.Close()
	defer slave.Close()
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
	if err := sendConsole(sock, master); err != nil {
		return err
	}
	sock.Close()
	return nil
}
