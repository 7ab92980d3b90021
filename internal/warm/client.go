package warm

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoServer: no server listens on the pool's socket (none was started,
// or it ended, or died and left its socket).
var ErrNoServer = errors.New("warm: no server for this pool")

// ErrRunCold: nothing ran; the pool's sandbox could not take the caller's
// working directory where a cold one keeps it (the sandbox's ids may not
// search a directory above it, say), so the command is for a cold launch.
var ErrRunCold = errors.New("warm: the caller's working directory is for a cold launch")

// RefusedError is a server's refusal of a request.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// Conn is a connection to a pool's server, for one command.
type Conn struct {
	c      *net.UnixConn
	server int        // the server's pid (SO_PEERCRED)
	mu     sync.Mutex // one frame at a time
}

// Dial connects to the pool at socket. The server must run as the
// caller's effective uid.
func Dial(socket string) (*Conn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, ErrNoServer
		}
		return nil, fmt.Errorf("warm: connect %s: %w", socket, err)
	}
	cred, err := peerCred(c)
	if err == nil && int(cred.Uid) != os.Geteuid() {
		err = fmt.Errorf("warm: the server of %s runs as uid %d, not %d", socket, cred.Uid, os.Geteuid())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Conn{c: c, server: int(cred.Pid)}, nil
}

// Start hands req and the caller's stdio to the server and returns the
// command's pid once it runs. A refusal is a *RefusedError; a connection
// closed unanswered (nothing ran) is ErrNoServer.
func (c *Conn) Start(req *Request, stdin, stdout, stderr *os.File) (int, error) {
	// The listener proves first that it is not outside this caller's
	// Landlock domain: nothing of the command goes to one that cannot.
	if err := challenge(c.c, "pool's server"); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
			return 0, fmt.Errorf("%w (the connection closed unanswered)", ErrNoServer)
		}
		return 0, &RefusedError{Msg: err.Error()}
	}
	if err := writeFrame(c.c, req, stdin, stdout, stderr); err != nil {
		return 0, fmt.Errorf("warm: sending the request: %w", err)
	}
	var m message
	if err := c.answer(&m); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
			// Closed unanswered: a server that died, whose listening
			// socket a child starting at that instant still held.
			// Nothing ran.
			return 0, fmt.Errorf("%w (the connection closed unanswered)", ErrNoServer)
		}
		return 0, fmt.Errorf("warm: the server did not answer: %w", err)
	}
	switch m.Kind {
	case kindStarted:
		return m.Pid, nil
	case kindRefused:
		return 0, &RefusedError{Msg: m.Msg}
	case kindDone:
		return 0, &doneError{code: m.Code, msg: m.Msg}
	}
	return 0, fmt.Errorf("warm: unexpected answer %q", m.Kind)
}

// answer reads the server's answer to a request into m, proving on the
// way that the server is not outside the caller's Landlock domain
// (proof.go).
func (c *Conn) answer(m *message) error {
	if _, err := readFrame(c.c, m, 0); err != nil || m.Kind != kindProve {
		return err
	}
	if err := prove(c.c, c.server, m.Fd); err != nil {
		return err
	}
	*m = message{}
	_, err := readFrame(c.c, m, 0)
	return err
}

// doneError: the command ended before it ran (it could not be started).
type doneError struct {
	code int
	msg  string
}

func (e *doneError) Error() string { return e.msg }

// Outcome returns the exit code and message of a Start that ended before
// the command ran, and false for any other error.
func Outcome(err error) (int, string, bool) {
	var d *doneError
	if errors.As(err, &d) {
		return d.code, d.msg, true
	}
	return 0, "", false
}

// Signal passes sig on to the command.
func (c *Conn) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("warm: %v is not a signal number", sig)
	}
	return c.send(message{Kind: kindSignal, Signal: int(s)})
}

// Kill kills the command's sandbox.
func (c *Conn) Kill() error { return c.send(message{Kind: kindKill}) }

func (c *Conn) send(m message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return writeFrame(c.c, m)
}

// Wait returns the exit code and message sandboxrun gives for the command;
// ErrRunCold where it never ran, its sandbox unable to take the caller's
// working directory.
func (c *Conn) Wait() (int, string, error) {
	var m message
	if _, err := readFrame(c.c, &m, 0); err != nil {
		return 0, "", fmt.Errorf("warm: the server ended before the command: %w", err)
	}
	if m.Kind != kindDone {
		return 0, "", fmt.Errorf("warm: unexpected answer %q", m.Kind)
	}
	if m.Cold {
		return m.Code, m.Msg, fmt.Errorf("%w: %s", ErrRunCold, m.Msg)
	}
	return m.Code, m.Msg, nil
}

// Close ends the connection; a command still running is killed.
func (c *Conn) Close() error { return c.c.Close() }
