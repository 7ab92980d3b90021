package jobns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// DefaultGrace is how long a holder waits for another caller after its
// last rank has ended, so that ranks started a little apart still share.
// It is short: the holder, and whatever is left in the job's namespaces,
// ends within a second of the last member's launcher.
const DefaultGrace = 500 * time.Millisecond

// maxSockPath is the size of sockaddr_un's sun_path, the terminating NUL
// included.
const maxSockPath = 108

// attempts bounds how often a caller starts over when it met a holder on
// its way out.
const attempts = 5

// handshakeTimeout bounds the wait for the holder's first answer.
const handshakeTimeout = 30 * time.Second

// Job names a job namespace set and says how its holder is made.
type Job struct {
	// Name of the job, unique per user and node (CheckName; SafeName and
	// NameFromEnv make one).
	Name string
	// Dir holds NAME.sock and NAME.lock; "" means RuntimeDir(). It is
	// created mode 0700 when missing and must be the caller's, mode 0700.
	Dir string
	// Options is the sandbox of the job: the holder applies it to itself
	// and every rank inherits it. It must create new user, pid, mount and
	// ipc namespaces (CheckOptions). Env, ClearEnv and Cwd are the rank's
	// (Spec), the rest must be the same for every rank (Digest).
	Options *sandbox.Options
	// Grace is how long the holder waits, once idle, before it exits; 0
	// means DefaultGrace.
	Grace time.Duration
}

// Spec is one rank: its command, environment, directory and stdio.
type Spec struct {
	Argv []string
	// Env is the rank's whole environment (nil: none).
	Env []string
	// Cwd is an absolute path in the job's mount namespace.
	Cwd string
	// Stdin, Stdout and Stderr are passed to the rank as descriptors;
	// nil means os.Stdin, os.Stdout, os.Stderr.
	Stdin, Stdout, Stderr *os.File
}

// Rank is a started rank.
type Rank struct {
	// Pid is the rank's pid in the job's pid namespace.
	Pid int
	// Started reports whether this caller started the job's holder.
	Started bool

	conn  *net.UnixConn
	dec   *json.Decoder
	encMu sync.Mutex
	enc   *json.Encoder

	waitOnce sync.Once
	status   Status
	waitErr  error
}

// Status is how a rank ended.
type Status struct {
	Code   int            // exit code, when it exited
	Signal syscall.Signal // the signal that killed it, or 0
}

// ExitCode is the status as a shell gives it: Code, or 128+N when signal N
// killed the rank.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// RankEnv is the environment of a rank with options o started from a
// process with environment environ: environ (nothing with o.ClearEnv) with
// o.Env on top, as package fork builds a sandbox's environment.
func RankEnv(o *sandbox.Options, environ []string) []string {
	var env []string
	if o == nil || !o.ClearEnv {
		env = append(env, environ...)
	}
	if o == nil {
		return env
	}
	for _, kv := range o.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = dropKey(env, k)
		env = append(env, kv)
	}
	return env
}

func dropKey(env []string, k string) []string {
	out := env[:0]
	for _, kv := range env {
		if kk, _, _ := strings.Cut(kv, "="); kk != k {
			out = append(out, kv)
		}
	}
	return out
}

// Start starts spec as a rank of the job: it connects to the job's holder,
// starting one first if there is none, and returns once the rank runs.
// ctx bounds only the start.
func (j *Job) Start(ctx context.Context, spec Spec) (*Rank, error) {
	if err := CheckName(j.Name); err != nil {
		return nil, err
	}
	if err := CheckOptions(j.Options); err != nil {
		return nil, err
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, failf("exec", "check", "", "no command")
	}
	if spec.Cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fail("cwd", "getwd", "", err)
		}
		spec.Cwd = wd
	}
	if spec.Stdin == nil {
		spec.Stdin = os.Stdin
	}
	if spec.Stdout == nil {
		spec.Stdout = os.Stdout
	}
	if spec.Stderr == nil {
		spec.Stderr = os.Stderr
	}
	digest, err := Digest(j.Options)
	if err != nil {
		return nil, err
	}
	dir := j.Dir
	if dir == "" {
		dir = RuntimeDir()
	}
	sock, _ := paths(dir, j.Name)
	if len(sock) >= maxSockPath {
		return nil, failf("dir", "check", sock, "%d bytes, longer than a unix socket address can be (%d): set XDG_RUNTIME_DIR to a shorter directory", len(sock), maxSockPath-1)
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	sweepStale(dir, j.Name)
	var last error
	for range attempts {
		if err := ctx.Err(); err != nil {
			return nil, fail("connect", "start", sock, err)
		}
		conn, holder, err := j.connectOrStart(ctx, dir, digest)
		if err != nil {
			return nil, err
		}
		r, retry, err := handshake(ctx, conn, spec, digest, holder)
		if err == nil {
			r.Started = holder != nil
			return r, nil
		}
		conn.Close()
		if !retry {
			return nil, err
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return nil, failf("connect", "join", sock, "the holder closed every connection before answering (%d attempts; last: %v)", attempts, last)
}

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

// Signal passes sig on to the rank (one of Relayed).
func (r *Rank) Signal(sig syscall.Signal) error {
	if !relayed(sig) {
		return failf("relay", "signal", "", "signal %v is not relayed", sig)
	}
	r.encMu.Lock()
	defer r.encMu.Unlock()
	if err := r.enc.Encode(&message{Type: "signal", Signal: int(sig)}); err != nil {
		return fail("relay", "send signal", "", err)
	}
	return nil
}

// Wait waits for the rank to end and returns how. An error means the
// status is unknown (ErrHolderGone: the holder went away).
func (r *Rank) Wait() (Status, error) {
	r.waitOnce.Do(func() {
		for {
			var m message
			if err := r.dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
					err = ErrHolderGone
				}
				r.waitErr = fail("relay", "read status", "", err)
				break
			}
			if m.Type == "exit" {
				r.status = Status{Code: m.Code, Signal: syscall.Signal(m.Signal)}
				break
			}
		}
		r.conn.Close()
	})
	return r.status, r.waitErr
}

// Kill ends the rank the way a caller's death does: it closes the
// connection, and the holder SIGKILLs the rank's process group.
func (r *Rank) Kill() error { return r.conn.Close() }

// String names the rank.
func (r *Rank) String() string { return fmt.Sprintf("rank pid %d", r.Pid) }

// affinity lists the CPUs this thread may run on (nil if unknown).
func affinity() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}
