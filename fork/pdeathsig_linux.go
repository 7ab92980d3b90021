package fork

import (
	"os/exec"
	"runtime"
	"sync"
)

// The parent-death signal's parent half (the child's is
// nsinit/pdeathsig_linux.go): launch asks for SIGKILL unless
// Config.KeepAlive, and the child is started from a thread that lives as
// long as the process (here) or as the child (startJoined).

// Pdeathsig fires when the thread that started the child exits, not the
// process (golang/go#27505). Children that must die with the parent are
// started from goroutines locked, for good, to threads that never exit.
//
// A child inherits the starting thread's no_new_privs. Setting it on the
// spawner thread (a cheap thread-local prctl) instead of in the child (an
// all-threads operation there) saves the child one stop-the-world; so
// spawners are kept per no_new_privs. The child checks it either way.
type spawnKey struct {
	nnp     bool
	keyring bool // join a new session keyring before each start
}

type spawner struct {
	ch chan spawnReq
}

var (
	spawnMu   sync.Mutex
	spawnPool = map[spawnKey]*spawner{}
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startLocked(cmd *exec.Cmd, key spawnKey) error {
	spawnMu.Lock()
	s, ok := spawnPool[key]
	if !ok {
		s = &spawner{ch: make(chan spawnReq)}
		spawnPool[key] = s
		go s.run(key)
	}
	spawnMu.Unlock()
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	s.ch <- r
	return <-r.done
}

func (s *spawner) run(key spawnKey) {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	if key.nnp {
		setThreadNoNewPrivs()
	}
	for r := range s.ch {
		if key.keyring {
			if err := joinNewSessionKeyring(); err != nil {
				r.done <- err
				continue
			}
		}
		r.done <- r.cmd.Start()
	}
}
