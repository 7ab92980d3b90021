package jobns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
