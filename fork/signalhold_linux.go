package fork

import (
	"os"
	"sync"
	"syscall"
)

// signalHold keeps the signals sent to a command's child that is the pid 1
// of a new pid namespace (not pooled: a pool hands a child over once its
// command started; not held: signals end a held one, as its pid 1 does not
// register them before its start) until that pid 1 says the command started
// (KindReady), then sends them. Before that, a signal would be lost or end
// the sandbox instead of reaching the command: while the child comes up
// from its exec its dispositions are the defaults, which the kernel ignores
// for a pid namespace's init, and until its forwarding is registered the
// Go runtime's default action cannot end a pid 1 either and exits 2.
// SIGKILL and SIGSTOP are never held: the kernel delivers them to a pid 1
// from outside its namespace.
type signalHold struct {
	on   bool // set before the child's frames are read
	mu   sync.Mutex
	open bool // the command started: signals go at once
	sigs []os.Signal
}

// hold keeps sig for later; false: send it now.
func (h *signalHold) hold(sig os.Signal) bool {
	if !h.on || sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open {
		return false
	}
	h.sigs = append(h.sigs, sig)
	return true
}

// release sends what was held to proc, in order, and holds nothing more.
func (h *signalHold) release(proc *os.Process) {
	if !h.on {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = true
	for _, s := range h.sigs {
		proc.Signal(s)
	}
	h.sigs = nil
}

// Signal sends sig to the child. To a command that runs under the pid 1 of
// a new pid namespace (StartCommand without Config.Hold), a signal sent
// before the command started is sent
// once it started (SIGKILL and SIGSTOP at once), so that it reaches the
// command instead of being lost during the setup; one sent to a child
// that ended before its command started is dropped.
func (p *Process) Signal(sig os.Signal) error {
	select {
	case <-p.readDone:
	default:
		if p.sigHold.hold(sig) {
			return nil
		}
	}
	return p.cmd.Process.Signal(sig)
}
