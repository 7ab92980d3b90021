package fork

import (
	"os"
	"os/signal"
)

// earlySignals is an os/signal registration a child starts on a goroutine
// of its own while its setup runs. Registering makes a round trip to the Go
// runtime's signal thread per signal (the first registration in a process
// also starts that thread): 0.6-1.1 ms for eight on this project's VM,
// which would otherwise be on the function's or the command's clock.
type earlySignals struct {
	ch   chan os.Signal
	done chan struct{} // closed once registered
}

// start begins registering sigs.
func (e *earlySignals) start(sigs ...os.Signal) {
	e.ch, e.done = make(chan os.Signal, 32), make(chan struct{})
	go func() {
		signal.Notify(e.ch, sigs...)
		close(e.done)
	}()
}

// channel returns the channel of sigs once they are registered, registering
// them now if start was not called.
func (e *earlySignals) channel(sigs ...os.Signal) chan os.Signal {
	if e.ch == nil {
		e.ch = make(chan os.Signal, 32)
		signal.Notify(e.ch, sigs...)
		return e.ch
	}
	<-e.done
	return e.ch
}
