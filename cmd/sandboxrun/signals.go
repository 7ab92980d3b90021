package main

import (
	"os"
	"os/signal"
	"syscall"
)

// forwarded are the signals sandboxrun passes on to the sandbox.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT}

// launchSignals holds the forwarded signals from the start of a launch.
// Registering a signal with os/signal is a round trip to the Go runtime's
// signal thread, and so is releasing it: 0.6-1.1 ms for the eight, and
// 0.2-1.1 ms to stop, on this project's VM. The registration runs on a
// goroutine of its own while the launch is planned, and the release runs
// on another as sandboxrun ends, so that neither is on the launch's clock.
type launchSignals struct {
	ch   chan os.Signal
	done chan struct{} // closed once the signals are registered
}

// notifyLaunch starts registering the forwarded signals.
func notifyLaunch() *launchSignals {
	s := &launchSignals{ch: make(chan os.Signal, 32), done: make(chan struct{})}
	go func() {
		// One that sandboxrun was started with ignored (nohup: SIGHUP; a
		// script's background job: SIGINT, SIGQUIT) stays ignored and is
		// not passed on, as with the command run directly.
		var sigs []os.Signal
		for _, sig := range forwarded {
			if !signal.Ignored(sig) {
				sigs = append(sigs, sig)
			}
		}
		if len(sigs) > 0 { // none would be every signal
			signal.Notify(s.ch, sigs...)
		}
		close(s.done)
	}()
	return s
}

// channel returns the channel of the forwarded signals once they are
// registered: from then on none of them ends sandboxrun, and those that
// arrive before the sandbox exists wait in it.
func (s *launchSignals) channel() chan os.Signal {
	<-s.done
	return s.ch
}

// stop releases the signals without waiting for the runtime: sandboxrun
// exits right after a launch.
func (s *launchSignals) stop() {
	go func() {
		<-s.done
		signal.Stop(s.ch)
	}()
}
