package jobns

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// holderFunc is the name the holder is registered under.
const holderFunc = "nsfork/jobns.holder"

func init() {
	fork.RegisterFunc(holderFunc, holder)
}

type server struct {
	l      *net.UnixListener
	lock   *os.File
	dir    *os.File // the rendezvous directory, opened by the first caller
	sock   string
	digest string
	uid    int // the callers' uid as this namespace sees it
	grace  time.Duration

	mu     sync.Mutex
	active int
}

// holder runs inside the job's sandbox, pid 1 of its pid namespace (the
// fork child reaps orphans). ln is the listening socket, lock the job's
// lock file, hostUID the uid of the callers outside.
func holder(ln, lock, dir *os.File, sock, digest string, hostUID, grace int64) error {
	// The ranks share our ids: they must not be able to ptrace us, or
	// read our descriptors (other callers' stdio) through /proc.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE: %w", err)
	}
	fl, err := net.FileListener(ln)
	ln.Close()
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	l, ok := fl.(*net.UnixListener)
	if !ok {
		return fmt.Errorf("listener: %T is not a unix socket", fl)
	}
	l.SetUnlinkOnClose(false)
	uid, err := insideID("/proc/self/uid_map", uint32(hostUID))
	if err != nil {
		// Root's job sets run as a leased range of unprivileged host ids
		// in which host root is not mapped: a root caller's credentials
		// read as the overflow uid here. Only root can reach the
		// rendezvous of a root caller's job, so that is who they are.
		if hostUID != 0 {
			return err
		}
		uid = overflowUID()
	}
	s := &server{l: l, lock: lock, dir: dir, sock: sock, digest: digest, uid: int(uid), grace: time.Duration(grace)}
	ignoreSignals()
	return s.run()
}

// overflowUID is the uid this user namespace shows for unmapped host ids.
func overflowUID() uint32 {
	b, err := os.ReadFile("/proc/sys/kernel/overflowuid")
	if err != nil {
		return 65534
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 65534
	}
	return uint32(v)
}

// ignoreSignals takes every catchable signal, so that no rank can end the
// holder, and with it the job, by sending one: the Go runtime would exit
// on SIGTERM, SIGHUP or SIGINT, and crash on SIGABRT, SIGQUIT or a
// SIGSEGV sent by kill. As pid 1 the holder is immune to SIGKILL and
// SIGSTOP from inside. Caught (not ignored) dispositions are reset at
// exec: the ranks start with the default ones.
func ignoreSignals() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	go func() {
		for range ch {
		}
	}()
}

// insideID maps a host id to this user namespace with a map file.
func insideID(mapFile string, host uint32) (uint32, error) {
	b, err := os.ReadFile(mapFile)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, e1 := strconv.ParseUint(f[0], 10, 32)
		out, e2 := strconv.ParseUint(f[1], 10, 32)
		n, e3 := strconv.ParseUint(f[2], 10, 32)
		if e1 != nil || e2 != nil || e3 != nil {
			continue
		}
		if uint64(host) >= out && uint64(host) < out+n {
			return uint32(in + uint64(host) - out), nil
		}
	}
	return 0, fmt.Errorf("%s: host id %d is not mapped", mapFile, host)
}

func (s *server) run() error {
	s.l.SetDeadline(time.Now().Add(s.grace))
	for {
		c, err := s.l.AcceptUnix()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if s.tryExit() {
					return nil
				}
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.exit()
			return fmt.Errorf("accept: %w", err)
		}
		s.admit(c)
	}
}

// admit serves c if it comes from outside the job, and refuses it
// otherwise. Only members from outside count: a refused connection
// neither makes the holder busy nor restarts its grace period, so nothing
// inside the job can keep it alive.
func (s *server) admit(c *net.UnixConn) {
	if e := s.checkPeer(c); e != nil {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Second))
			refuseConn(c, e)
		}()
		return
	}
	s.mu.Lock()
	s.active++
	s.l.SetDeadline(time.Time{})
	s.mu.Unlock()
	go func() {
		s.serve(c)
		s.mu.Lock()
		s.active--
		if s.active == 0 {
			s.l.SetDeadline(time.Now().Add(s.grace))
		}
		s.mu.Unlock()
	}()
}

// checkPeer admits a caller of the job's uid from outside the job's pid
// namespace. The holder is pid 1 of that namespace, and SO_PEERCRED gives
// the peer's pid as this namespace sees it: 0 for a process outside it
// (a launcher on the host), its pid for one inside it or in a namespace
// below (a rank, or anything a rank started, a second launcher included).
func (s *server) checkPeer(c *net.UnixConn) *sandbox.SetupError {
	cred, err := peerCred(c)
	if err != nil {
		return fail("peer", "SO_PEERCRED", s.sock, err)
	}
	if cred.Pid != 0 {
		return failf("peer", "check", s.sock, "%w (pid %d there): a job's members are started by launchers outside it, never from inside", ErrInsideJob, cred.Pid)
	}
	if int(cred.Uid) != s.uid {
		return failf("peer", "SO_PEERCRED", s.sock, "caller uid %d (as the job's user namespace sees it) is not the job's uid %d", cred.Uid, s.uid)
	}
	return nil
}

// lockWait bounds how long a leaving holder waits for the job's lock.
const lockWait = 200 * time.Millisecond

// tryExit ends the holder if no member is left: under the job's lock, so
// that no new holder starts while this one leaves, it admits or refuses
// whatever waits in the listen queue, and, if no member came, removes the
// socket and closes the listener. A caller that connected in between finds
// its connection closed before any answer and starts over. The lock file
// can be reached from inside the job: when it cannot be had within
// lockWait, the holder leaves without it (a caller then finds the socket
// refusing and replaces it under the lock).
func (s *server) tryExit() bool {
	if s.busy() {
		return false
	}
	if lockWithin(s.lock, lockWait) {
		defer unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
	}
	for {
		c, ok := s.queued()
		if !ok {
			break
		}
		s.admit(c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active > 0 {
		s.l.SetDeadline(time.Time{}) // queued set it to now
		return false
	}
	s.exit()
	return true
}

func (s *server) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active > 0
}

// lockWithin takes an exclusive lock on f, waiting at most d.
func lockWithin(f *os.File, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return true
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) || time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *server) exit() {
	// The socket is removed through the directory the first caller
	// opened: its path may be out of reach, or read-only, in our mount
	// namespace (a --rootfs, the default view). As a uid that may not
	// write the directory (root's jobs run as a leased range), it stays,
	// refusing connections, and the next caller replaces it.
	if unix.Unlinkat(int(s.dir.Fd()), filepath.Base(s.sock), 0) != nil {
		os.Remove(s.sock)
	}
	s.l.Close()
}

// queued accepts a connection that waits in the listen queue, without
// waiting for one.
func (s *server) queued() (*net.UnixConn, bool) {
	s.l.SetDeadline(time.Now())
	c, err := s.l.AcceptUnix()
	if err != nil {
		return nil, false
	}
	return c, true
}

// refuseConn sends the caller the error e.
func refuseConn(c *net.UnixConn, e *sandbox.SetupError) {
	json.NewEncoder(c).Encode(&message{Type: "error", Err: e})
}
