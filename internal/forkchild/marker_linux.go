package forkchild

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TokenLen is the length of the token a marker and its request carry.
const TokenLen = 16

// Marker is what a parent tells its child in the environment: the control
// socket is at FD, the descriptors passed on purpose follow it (NFDs in
// all, the socket included), and the request read from the socket must
// carry Token. Staged > 0 says the request is in that descriptor instead
// (fork's second stage after a time namespace's re-exec).
type Marker struct {
	FD, NFDs int
	Token    []byte
	Staged   int
}

// String is the marker's value: "1:<fd>:<count>:<token in hex>[:<staged>]".
func (m Marker) String() string {
	s := fmt.Sprintf("1:%d:%d:%s", m.FD, m.NFDs, hex.EncodeToString(m.Token))
	if m.Staged > 0 {
		s += ":" + strconv.Itoa(m.Staged)
	}
	return s
}

// ParseMarker parses a marker's value, bounding every number.
func ParseMarker(v string) (Marker, error) {
	var m Marker
	parts := strings.Split(v, ":")
	if (len(parts) != 4 && len(parts) != 5) || parts[0] != "1" {
		return m, fmt.Errorf("malformed marker")
	}
	var err error
	if len(parts) == 5 {
		if m.Staged, err = strconv.Atoi(parts[4]); err != nil || m.Staged < 3 || m.Staged > 1<<20 {
			return m, fmt.Errorf("malformed marker request fd")
		}
	}
	if m.FD, err = strconv.Atoi(parts[1]); err != nil || m.FD < 3 || m.FD > 1<<20 {
		return m, fmt.Errorf("malformed marker fd")
	}
	if m.NFDs, err = strconv.Atoi(parts[2]); err != nil || m.NFDs < 1 || m.NFDs > 1<<16 {
		return m, fmt.Errorf("malformed marker fd count")
	}
	if m.Token, err = hex.DecodeString(parts[3]); err != nil || len(m.Token) != TokenLen {
		return m, fmt.Errorf("malformed marker token")
	}
	return m, nil
}

// NewToken returns TokenLen random bytes from the kernel (not crypto/rand,
// whose package initialisers would run again in every child).
func NewToken() ([]byte, error) {
	token := make([]byte, TokenLen)
	if n, err := unix.Getrandom(token, 0); err != nil || n != len(token) {
		return nil, fmt.Errorf("getrandom for the request token: %d bytes, %v", n, err)
	}
	return token, nil
}

// CheckChannel makes sure fd is the socket our parent made for us: an
// AF_UNIX stream socket whose peer is our parent process.
func CheckChannel(fd int) error {
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("fd %d is not a socket: %w", fd, err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || dom != unix.AF_UNIX || typ != unix.SOCK_STREAM {
		return fmt.Errorf("fd %d is not an AF_UNIX stream socket", fd)
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return fmt.Errorf("fd %d: SO_PEERCRED: %w", fd, err)
	}
	// In a new pid namespace both are 0: the parent is outside. A parent
	// that let its child outlive it (the go-fork API) may be gone already:
	// its request is queued in the socket.
	// (An exited parent may still be a zombie its own parent has not
	// reaped.)
	if int(cred.Pid) == os.Getppid() {
		return nil
	}
	if peerGone := unix.Kill(int(cred.Pid), 0) == unix.ESRCH || IsZombie(int(cred.Pid)); !peerGone {
		return fmt.Errorf("fd %d: the peer (pid %d) is not our parent (pid %d)", fd, cred.Pid, os.Getppid())
	}
	return nil
}

// IsZombie reports whether pid (of this pid namespace, /proc being ours)
// has exited and waits to be reaped.
func IsZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
