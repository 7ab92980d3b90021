package main

import (
	"net"
	"os"

	"github.com/nsfork/nsfork/internal/console"
)

// execConsole gives the calling process (__execinit) a terminal made
// inside the container as its controlling terminal and stdio, and sends
// the master to the console socket sock (internal/console).
func execConsole(sock *os.File) error {
	slave, err := console.OpenAndSend(int(sock.Fd()))
	if err != nil {
		return err
	}
	defer slave.Close()
	sock.Close()
	return console.Control(slave)
}

// dialConsole connects to the caller's console socket.
func dialConsole(path string) (*os.File, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*net.UnixConn).File()
}
