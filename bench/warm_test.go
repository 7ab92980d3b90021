package bench

// The warm path's row: sandboxrun --warm, each launch served by a sandbox
// a pool set up ahead of it, against bwrap for the same isolation.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// benchWarm is the pool of the warm row: a private XDG_RUNTIME_DIR and the
// environment that points sandboxrun at it.
var benchWarm struct {
	sync.Once
	dir string
	env []string
	err error
}

// addWarmRow adds the warm row beside cli, the cold sandboxrun row, with
// its arguments (flags, "--", command).
func addWarmRow(add func(*row), cli *row, sbr string, args []string) {
	warmArgs := append([]string{"--warm"}, args...)
	r := &row{key: "sandboxrun-warm", label: "`sandboxrun --warm` (same flags and command: a pool's sandbox, set up before the launch, one per command)", base: keyBwrap, maxRatio: 0.75, skip: cli.skip}
	r.run = func() error {
		benchWarm.Do(func() { benchWarm.err = startWarmPool(sbr, warmArgs) })
		if benchWarm.err != nil {
			return benchWarm.err
		}
		c := stdio(exec.Command(sbr, warmArgs...))
		c.Env = benchWarm.env
		return c.Run()
	}
	add(r)
	add(&row{key: "sandboxrun-warm-vs-cold", label: "sandboxrun --warm (same row) against sandboxrun cold", run: r.run, base: cli.key, skip: cli.skip})
}

// startWarmPool makes the pool (its first launch runs cold and starts the
// server) and waits until its socket exists and its sandboxes had time to
// be set up.
func startWarmPool(sbr string, args []string) error {
	dir, err := os.MkdirTemp("", "nsfork-bench-warm-")
	if err != nil {
		return err
	}
	benchWarm.dir = dir
	benchWarm.env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "NSFORK_WARM_IDLE=10m")
	c := stdio(exec.Command(sbr, args...))
	c.Env = benchWarm.env
	if err := c.Run(); err != nil {
		return fmt.Errorf("sandboxrun --warm, first launch: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if socks, _ := filepath.Glob(filepath.Join(dir, "nsfork-warm", "*.sock")); len(socks) == 1 {
			time.Sleep(time.Second)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandboxrun --warm: no pool after 30s (see %s)", dir)
		}
	}
}

// stopWarmPool ends the warm row's server (its sandboxes die with it) and
// removes its directory.
func stopWarmPool() {
	if benchWarm.dir == "" {
		return
	}
	socks, _ := filepath.Glob(filepath.Join(benchWarm.dir, "nsfork-warm", "*.sock"))
	for _, s := range socks {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Connect(fd, &unix.SockaddrUnix{Name: s}) == nil {
			if cr, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				syscall.Kill(int(cr.Pid), syscall.SIGTERM)
			}
		}
		unix.Close(fd)
	}
	os.RemoveAll(benchWarm.dir)
}
