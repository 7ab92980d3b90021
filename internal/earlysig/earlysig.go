// Package earlysig registers signals with os/signal on a goroutine of its
// own, started ahead of when the channel is needed. Registering a signal
// is a round trip to the Go runtime's signal thread (the first
// registration in a process also starts that thread), and so is releasing
// it: 0.6-1.1 ms for eight signals and 0.2-1.1 ms to release them on this
// project's VM (docs/speed.md), time a launch would otherwise wait for.
// sandboxrun registers the signals it forwards while it plans a launch;
// a sandbox's pid 1 registers its reaper's SIGCHLD and the signals it
// forwards to its command while its setup runs.
package earlysig

import (
	"os"
	"os/signal"
	"syscall"
)

// Forwarded are the signals sandboxrun passes on to its sandbox and a
// command's pid 1 passes on to the command (jobns.Relayed lists the same
// for the ranks of a job).
var Forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT}

// Set is one registration. Its zero value registers nothing until Start
// or Channel.
type Set struct {
	ch   chan os.Signal
	done chan struct{} // closed once registered
}

// Start begins registering sigs. With none it registers nothing (os/signal
// would take an empty list for every signal).
func (s *Set) Start(sigs ...os.Signal) {
	s.ch, s.done = make(chan os.Signal, 32), make(chan struct{})
	go func() {
		if len(sigs) > 0 {
			signal.Notify(s.ch, sigs...)
		}
		close(s.done)
	}()
}

// Channel returns the channel of the signals once they are registered; if
// Start was not called it registers sigs now.
func (s *Set) Channel(sigs ...os.Signal) chan os.Signal {
	if s.ch == nil {
		s.Start(sigs...)
	}
	<-s.done
	return s.ch
}

// Registered is closed once Start's registration is done (nil before
// Start).
func (s *Set) Registered() <-chan struct{} { return s.done }

// StopAsync releases the signals on a goroutine, for a process about to
// exit: nothing waits for the runtime.
func (s *Set) StopAsync() {
	if s.ch == nil {
		return
	}
	go func() {
		<-s.done
		signal.Stop(s.ch)
	}()
}

// NotIgnored returns the signals of sigs this process does not ignore:
// one it was started with ignored (nohup: SIGHUP; a shell script's
// background job: SIGINT, SIGQUIT) is left ignored when only these are
// registered.
func NotIgnored(sigs []os.Signal) []os.Signal {
	var out []os.Signal
	for _, s := range sigs {
		if !signal.Ignored(s) {
			out = append(out, s)
		}
	}
	return out
}
