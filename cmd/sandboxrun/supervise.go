package main

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// supervisor passes caught signals on to the sandbox and applies --timeout
// and --kill-after to it: SIGTERM at the timeout, then a kill after the
// grace unless it ended meanwhile. Both sandboxrun modes (a sandbox of its
// own, a rank of a --share-ns job) use it.
type supervisor struct {
	timedOut, killed atomic.Bool
	done             chan struct{}
	wg               sync.WaitGroup
	timer            *time.Timer
}

func supervise(sigs <-chan os.Signal, f *runFlags, signal func(os.Signal), kill func()) *supervisor {
	s := &supervisor{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case sig := <-sigs:
				signal(sig)
			case <-s.done:
				return
			}
		}
	}()
	if f.timeout > 0 {
		s.timer = time.AfterFunc(f.timeout, func() {
			s.timedOut.Store(true)
			signal(syscall.SIGTERM)
			if f.killAft > 0 {
				time.AfterFunc(f.killAft, func() {
					select {
					case <-s.done:
					default:
						s.killed.Store(true)
						kill()
					}
				})
			}
		})
	}
	return s
}

// stop ends the supervision once the sandbox has ended.
func (s *supervisor) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
	close(s.done)
	s.wg.Wait()
}
