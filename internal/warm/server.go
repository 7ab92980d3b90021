package warm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/jobns"
	"github.com/nsfork/nsfork/sandbox"
)

// Server keeps one pool: children isolated as Options says, for callers of
// the server's own uid and context.
type Server struct {
	// Options are the pool's sandbox options, already validated;
	// Canonical is their canonical form, which requests must match.
	Options   *sandbox.Options
	Canonical []byte
	// Dir is the directory of the pools (Dir).
	Dir string
	// Size is the number of children kept ready.
	Size int
	// Idle ends the server after this long without a command.
	Idle time.Duration
	// Outcome turns a command's end into the caller's exit code and
	// message, as for a cold launch.
	Outcome func(err error, state *os.ProcessState) (int, string)
	// Log receives one line per refusal or failure.
	Log *log.Logger
	// CwdKeyed: the pool serves callers in the server's working directory
	// alone, and its children keep the one they were made in (CwdKeyed).
	CwdKeyed bool

	context []byte // the server's own CallerContext
	paths   Paths
	uid     int
	pool    *fork.Pool

	mu     sync.Mutex
	active int
	last   time.Time
}

// ErrServing is returned by Serve when another server holds the pool's lock.
var ErrServing = errors.New("warm: another server serves this pool")

// Serve starts the pool and serves it until the idle timeout, the end of
// the server's session scope, or ctx. It returns ErrServing when another
// server holds the pool.
func (s *Server) Serve(ctx context.Context) error {
	if s.Log == nil {
		s.Log = log.New(io.Discard, "", 0)
	}
	s.uid = os.Geteuid()
	if err := PeerPidfdSupported(); err != nil {
		return err
	}
	own, err := s.callerContext(os.Getpid())
	if err != nil {
		return err
	}
	s.context = own
	// The server stays dumpable (its children re-execute /proc/self/exe,
	// which a non-dumpable parent's child cannot open): no sandbox can
	// reach it, as each has a pid namespace of its own (sandboxrun
	// --warm requires one) and a user namespace, outside of which it has
	// no capability.
	// Named after the server's own key: were its context not the
	// caller's, no caller of that context would ever reach it.
	if s.paths, err = PathsFor(s.Dir, Key(s.Canonical, own)); err != nil {
		return err
	}
	lock, err := os.OpenFile(s.paths.Lock, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("warm: lock: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrServing
		}
		return fmt.Errorf("warm: flock %s: %w", s.paths.Lock, err)
	}
	// The session is watched from before the socket exists: its leader
	// may end as soon as its first launch returned.
	sessionFD := -1
	if scope, _ := scopeOf(os.Getpid()); strings.HasPrefix(scope, "session:") {
		if sid, err := unix.Getsid(0); err == nil && sid > 0 {
			if fd, err := unix.PidfdOpen(sid, 0); err == nil {
				sessionFD = fd
			}
		}
	}
	// The lock is ours: a socket at the path was left by a server that
	// died. The pool is ready before the socket exists, so that nobody
	// connects to a server that cannot serve.
	s.pool, err = (&fork.Config{}).NewCommandPool(s.Options, s.Size)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	ln, err := s.listen()
	if err != nil {
		return err
	}
	var st unix.Stat_t
	unix.Stat(s.paths.Socket, &st)
	defer func() {
		// Only our own socket: a path that names another is not ours.
		var now unix.Stat_t
		if unix.Lstat(s.paths.Socket, &now) == nil && now.Ino == st.Ino && now.Dev == st.Dev {
			os.Remove(s.paths.Socket)
		}
	}()
	defer ln.Close()
	s.last = time.Now()
	go s.watchEnd(ctx, ln, sessionFD)
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.Log.Printf("accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.active++
		s.mu.Unlock()
		go func() {
			s.handle(c)
			c.Close()
			s.mu.Lock()
			s.active--
			s.last = time.Now()
			s.mu.Unlock()
		}()
	}
}

// listen binds the socket, removing a stale one first, with no access for
// anyone else (the directory is 0700 as well).
func (s *Server) listen() (*net.UnixListener, error) {
	var st unix.Stat_t
	switch err := unix.Lstat(s.paths.Socket, &st); {
	case err == nil && st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return nil, fmt.Errorf("warm: %s exists and is not a socket: refusing to replace it", s.paths.Socket)
	case err == nil:
		if err := os.Remove(s.paths.Socket); err != nil {
			return nil, fmt.Errorf("warm: removing the stale socket: %w", err)
		}
	case !errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("warm: lstat %s: %w", s.paths.Socket, err)
	}
	// Not through the umask, which is the process's and which the
	// pool's children, started meanwhile, would inherit: connecting
	// takes write access, which the directory (0700) and the mode here
	// leave to the user alone.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.paths.Socket, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("warm: listen: %w", err)
	}
	if err := os.Chmod(s.paths.Socket, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("warm: chmod %s: %w", s.paths.Socket, err)
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

// watchEnd closes the listener once the server was idle for s.Idle, or,
// for a pool scoped to a session, the session's leader exited (a pool
// scoped to a Slurm job ends with the job's processes, which Slurm kills,
// or when idle).
func (s *Server) watchEnd(ctx context.Context, ln *net.UnixListener, sessionFD int) {
	sessionEnd := make(chan struct{})
	if sessionFD >= 0 {
		go func() {
			defer unix.Close(sessionFD)
			fds := []unix.PollFd{{Fd: int32(sessionFD), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					break
				}
			}
			close(sessionEnd)
		}()
	}
	tick := time.NewTicker(min(s.Idle/4+time.Millisecond, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-sessionEnd:
			ln.Close()
			return
		case <-ctx.Done():
			ln.Close()
			return
		case <-tick.C:
		}
		s.mu.Lock()
		idle := s.active == 0 && time.Since(s.last) >= s.Idle
		s.mu.Unlock()
		if idle {
			ln.Close()
			return
		}
	}
}

// handle serves one connection: one command.
func (s *Server) handle(c *net.UnixConn) {
	refuse := func(msg string) {
		s.Log.Print("refused: " + msg)
		writeFrame(c, message{Kind: kindRefused, Code: 125, Msg: "warm: " + strings.TrimPrefix(msg, "warm: ")})
	}
	cred, err := peerCred(c)
	if err != nil {
		s.Log.Printf("SO_PEERCRED: %v", err)
		return
	}
	if int(cred.Uid) != s.uid {
		// Nothing is read from, or told to, another user.
		s.Log.Printf("refused: a connection of uid %d (pid %d), this pool is uid %d's", cred.Uid, cred.Pid, s.uid)
		return
	}
	// The pid SO_PEERCRED names is the caller's only as long as the
	// caller was not reaped: pinned, and checked again once all that is
	// read about it was read.
	pin, err := pinPeer(c, int(cred.Pid))
	if err != nil {
		refuse(err.Error())
		return
	}
	defer pin.close()
	// The caller's challenge first: this server proves it is not outside
	// the caller's Landlock domain before the caller sends its request.
	if err := answerProof(c, int(cred.Pid)); err != nil {
		s.Log.Printf("the caller's challenge: %v", err)
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req Request
	files, err := readFrame(c, &req, 3)
	c.SetReadDeadline(time.Time{})
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	switch {
	case err != nil:
		s.Log.Printf("request: %v", err)
		return
	case !bytes.Equal(req.Options, s.Canonical):
		refuse("the request's sandbox options differ from this pool's")
		return
	case len(files) != 3:
		refuse(fmt.Sprintf("%d stdio descriptors, want 3", len(files)))
		return
	}
	if ctx, err := s.callerContext(int(cred.Pid)); err != nil {
		refuse(err.Error())
		return
	} else if d := contextDiff(ctx, s.context); d != "" {
		refuse("the caller's context differs from this pool's: " + d)
		return
	} else if err := pin.check(); err != nil {
		refuse(err.Error())
		return
	}
	if err := challenge(c, "caller"); err != nil {
		refuse(err.Error())
		return
	}
	p, err := s.pool.StartCommand(context.Background(), &fork.Command{Argv: req.Argv, Env: req.Env, Dir: s.commandDir(&req),
		Stdin: files[0], Stdout: files[1], Stderr: files[2]})
	if err != nil {
		code, msg := s.Outcome(err, nil)
		writeFrame(c, message{Kind: kindDone, Code: code, Msg: msg})
		return
	}
	for _, f := range files {
		f.Close()
	}
	files = nil
	killAll := func() {
		syscall.Kill(-p.Pid, syscall.SIGKILL)
		p.Kill()
	}
	if err := writeFrame(c, message{Kind: kindStarted, Pid: p.Pid}); err != nil {
		killAll()
	}
	ended := make(chan struct{})
	go func() {
		for {
			var m message
			if _, err := readFrame(c, &m, 0); err != nil {
				select {
				case <-ended:
				default:
					// The caller is gone: its sandbox goes with it, as a
					// cold launch's does.
					killAll()
				}
				return
			}
			switch m.Kind {
			case kindSignal:
				// Only what sandboxrun forwards (the job ranks' list).
				if slices.Contains(jobns.Relayed, syscall.Signal(m.Signal)) {
					p.Signal(syscall.Signal(m.Signal))
				}
			case kindKill:
				killAll()
			}
		}
	}()
	werr := p.Wait()
	close(ended)
	code, msg := s.Outcome(werr, p.ProcessState)
	writeFrame(c, message{Kind: kindDone, Code: code, Msg: msg, Cold: cwdFailed(werr)})
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = cerr
	}
	return cred, err
}
