package earlysig

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

func received(t *testing.T, ch chan os.Signal, want os.Signal) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%v not received", want)
	}
}

// Start registers on its own goroutine; Channel waits for it, and a signal
// raised then reaches the channel instead of the default action.
func TestStartThenChannel(t *testing.T) {
	var s Set
	s.Start(syscall.SIGUSR1)
	ch := s.Channel()
	select {
	case <-s.Registered():
	default:
		t.Fatal("Channel returned before the registration was done")
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	received(t, ch, syscall.SIGUSR1)
	signal.Stop(ch)
}

// Without Start, Channel registers the signals it is given.
func TestChannelWithoutStart(t *testing.T) {
	var s Set
	ch := s.Channel(syscall.SIGUSR2)
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	received(t, ch, syscall.SIGUSR2)
	signal.Stop(ch)
}

// An empty Start registers nothing (os/signal would register every
// signal): a SIGWINCH, ignored by default, does not reach it.
func TestStartNoneRegistersNothing(t *testing.T) {
	var s Set
	s.Start()
	ch := s.Channel()
	syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	select {
	case got := <-ch:
		t.Fatalf("an empty Start registered %v", got)
	case <-time.After(200 * time.Millisecond):
	}
}

// NotIgnored leaves out what this process ignores.
func TestNotIgnored(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	got := NotIgnored([]os.Signal{syscall.SIGHUP, syscall.SIGTERM})
	if len(got) != 1 || got[0] != syscall.SIGTERM {
		t.Fatalf("NotIgnored = %v, want [SIGTERM]", got)
	}
}
