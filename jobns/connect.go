package jobns

// Reaching a job's holder: the socket, the caller check, starting a
// holder when there is none, and the handshake that makes a rank.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// dial connects to sock and checks that the listener is the caller's uid.
func dial(sock string) (*net.UnixConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err
		}
		return nil, err
	}
	cred, err := peerCred(c)
	if err != nil {
		c.Close()
		return nil, fail("peer", "SO_PEERCRED", sock, err)
	}
	if int(cred.Uid) != os.Geteuid() {
		c.Close()
		return nil, failf("peer", "SO_PEERCRED", sock, "the socket's owner is uid %d, not uid %d: refusing it", cred.Uid, os.Geteuid())
	}
	return c, nil
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// noListener reports whether a connect error means nobody serves sock.
func noListener(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// connectOrStart connects to the job's holder, or, under the job's lock,
// starts one and connects to it. holder is non-nil when this call started
// the holder.
func (j *Job) connectOrStart(ctx context.Context, dir, digest string) (*net.UnixConn, *holderProc, error) {
	sock, lockPath := paths(dir, j.Name)
	c, err := dial(sock)
	if err == nil {
		return c, nil, nil
	}
	var je *sandbox.SetupError
	if errors.As(err, &je) || !noListener(err) {
		if je != nil {
			return nil, nil, je
		}
		return nil, nil, fail("connect", "connect", sock, err)
	}
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, nil, fail("lock", "open", lockPath, err)
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return nil, nil, fail("lock", "flock", lockPath, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	// Another first caller may have won.
	if c, err := dial(sock); err == nil {
		return c, nil, nil
	} else if !noListener(err) {
		var je *sandbox.SetupError
		if errors.As(err, &je) {
			return nil, nil, je
		}
		return nil, nil, fail("connect", "connect", sock, err)
	}
	h, err := j.startHolder(sock, lockPath, digest)
	if err != nil {
		return nil, nil, err
	}
	c, err = dial(sock)
	if err != nil {
		h.kill()
		var je *sandbox.SetupError
		if errors.As(err, &je) {
			return nil, nil, je
		}
		return nil, nil, fail("connect", "connect", sock, err)
	}
	return c, h, nil
}

// flock takes an exclusive lock on f, giving up when ctx is done.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// holderProc is a holder this caller started: its setup error, if it
// fails before it serves, explains a connection closed without answer.
type holderProc struct {
	p    *fork.Process
	done chan struct{}
	err  error
}

func (h *holderProc) kill() {
	h.p.Kill()
	<-h.done
}

// startHolder removes a stale socket, listens on sock and starts the
// holder with the listening socket. The caller holds the job's lock.
func (j *Job) startHolder(sock, lockPath, digest string) (*holderProc, error) {
	st, err := os.Lstat(sock)
	switch {
	case err == nil && st.Mode().Type() != fs.ModeSocket:
		return nil, failf("listen", "check", sock, "exists and is not a socket (%s): refusing to remove it", st.Mode().Type())
	case err == nil:
		// Nobody listens (the connect was refused) and no one else can
		// start a holder while we hold the lock: a holder that died.
		if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fail("listen", "remove stale socket", sock, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fail("listen", "lstat", sock, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, fail("listen", "listen", sock, err)
	}
	// From here on, a failure removes the socket again.
	ok := false
	defer func() {
		if !ok {
			l.Close() // unlinks sock
		}
	}()
	if err := os.Chmod(sock, 0o600); err != nil {
		return nil, fail("listen", "chmod", sock, err)
	}
	lf, err := l.File()
	if err != nil {
		return nil, fail("listen", "dup", sock, err)
	}
	defer lf.Close()
	lock, err := os.OpenFile(lockPath, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fail("lock", "open", lockPath, err)
	}
	defer lock.Close()
	dirFile, err := os.OpenFile(filepath.Dir(sock), os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fail("listen", "open", filepath.Dir(sock), err)
	}
	defer dirFile.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fail("holder", "open", os.DevNull, err)
	}
	defer null.Close()

	opts := j.Options.Clone()
	opts.DieWithParent = false
	grace := j.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	cfg := &fork.Config{
		Stdin: null, Stdout: null, Stderr: null,
		Args:      []string{"nsfork-jobns-holder", j.Name},
		KeepAlive: true,
	}
	p, err := cfg.Start(context.Background(), holderFunc, opts, lf, lock, dirFile, sock, digest, int64(os.Geteuid()), int64(grace))
	if err != nil {
		return nil, fail("holder", "start", "", err)
	}
	h := &holderProc{p: p, done: make(chan struct{})}
	go func() {
		h.err = p.Wait()
		close(h.done)
	}()
	// The holder has its copy: ours must not unlink the path on close.
	l.SetUnlinkOnClose(false)
	l.Close()
	ok = true
	return h, nil
}

// handshake sends the rank to the holder and reads its answer. retry is
// true when the connection closed before any answer: the holder was on
// its way out.
func handshake(ctx context.Context, c *net.UnixConn, spec Spec, digest string, h *holderProc) (r *Rank, retry bool, err error) {
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetDeadline(deadline)
	rights := unix.UnixRights(int(spec.Stdin.Fd()), int(spec.Stdout.Fd()), int(spec.Stderr.Fd()))
	_, _, werr := c.WriteMsgUnix([]byte{0}, rights, nil)
	enc := json.NewEncoder(c)
	if werr == nil {
		werr = enc.Encode(&hello{Version: protoVersion, Digest: digest, Argv: spec.Argv, Env: spec.Env, Cwd: spec.Cwd, CPUs: affinity()})
	}
	dec := json.NewDecoder(c)
	var m message
	rerr := dec.Decode(&m)
	if rerr != nil {
		if h != nil {
			// We started this holder: if it died, its own error says why.
			select {
			case <-h.done:
				return nil, false, fail("holder", "setup", "", h.err)
			case <-time.After(2 * time.Second):
			}
		}
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			return nil, false, fail("handshake", "read", "", rerr)
		}
		if werr == nil {
			werr = rerr
		}
		return nil, true, fail("handshake", "exchange", "", werr)
	}
	switch m.Type {
	case "started":
		c.SetDeadline(time.Time{})
		return &Rank{Pid: m.Pid, conn: c, dec: dec, enc: enc}, false, nil
	case "error":
		return nil, false, m.err()
	}
	return nil, false, failf("handshake", "read", "", "unexpected message %q", m.Type)
}
