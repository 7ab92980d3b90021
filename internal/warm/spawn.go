package warm

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serveEnv marks a process started by Spawn: it is to serve a pool.
const serveEnv = "NSFORK_WARM_SERVE"

// spawnConfig is what Spawn hands the new server on its stdin.
type spawnConfig struct {
	Options json.RawMessage `json:"options"`
	Dir     string          `json:"dir"`
	Size    int             `json:"size"`
	Idle    time.Duration   `json:"idle"`
	// CwdKeyed: the pool is the caller's working directory's, which the
	// server keeps as its own (CwdKeyed).
	CwdKeyed bool `json:"cwdKeyed,omitempty"`
}

// Spawn starts a server for the pool of the canonical options in dir: this
// executable again, in a process group of its own (a terminal's ^C is for
// the commands, not the pool), in the caller's session, with the caller's
// context, in the caller's working directory (a pool keyed by it keeps
// it; any other leaves it for /). It returns once the server was started,
// not when it serves. The server's errors go to the pool's log file.
func Spawn(dir string, paths Paths, canonical []byte, size int, idle time.Duration, cwdKeyed bool) error {
	cfg, err := json.Marshal(spawnConfig{Options: canonical, Dir: dir, Size: size, Idle: idle, CwdKeyed: cwdKeyed})
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(paths.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("warm: log: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, nil, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("warm: starting the server: %w", err)
	}
	cmd.Process.Release()
	r.Close()
	_, err = w.Write(cfg)
	return err
}

// ServeRequested reports whether this process was started by Spawn.
func ServeRequested() bool {
	return os.Getenv(serveEnv) == "1"
}

// SpawnedServer reads the configuration Spawn gave this process (its
// stdin) into a Server; the caller completes it
// (Options, Outcome, Log) and calls Serve.
func SpawnedServer() (*Server, error) {
	os.Unsetenv(serveEnv)
	b, err := io.ReadAll(io.LimitReader(os.Stdin, maxFrame))
	if err != nil {
		return nil, fmt.Errorf("warm: reading the server's configuration: %w", err)
	}
	closeInherited()
	// Descriptor 0 is /dev/null from here on (the pool's children start
	// with it, until they take their caller's).
	if null, err := os.Open(os.DevNull); err == nil {
		unix.Dup3(int(null.Fd()), 0, 0)
		null.Close()
	}
	var cfg spawnConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("warm: the server's configuration: %w", err)
	}
	if cfg.Size < 1 || cfg.Idle <= 0 {
		return nil, fmt.Errorf("warm: the server's configuration: size %d, idle %s", cfg.Size, cfg.Idle)
	}
	if !cfg.CwdKeyed {
		// Its children change into each caller's directory: the server
		// holds none busy (an unmount) while it lives.
		if err := os.Chdir("/"); err != nil {
			return nil, fmt.Errorf("warm: chdir /: %w", err)
		}
	}
	return &Server{Canonical: cfg.Options, Dir: cfg.Dir, Size: cfg.Size, Idle: cfg.Idle, CwdKeyed: cfg.CwdKeyed}, nil
}

// closeInherited closes what the server inherited from its caller by
// accident (descriptors without close-on-exec above stdio: a pipe whose
// reader waits for its end, say); the runtime's own are close-on-exec.
func closeInherited() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}
