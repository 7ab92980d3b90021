package nsinit

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// The parent-death signal has three parts. The parent asks for it at the
// start, from a thread that lives as long as the child must
// (fork/pdeathsig_linux.go: Pdeathsig fires when the starting *thread*
// exits, golang/go#27505). An id change clears it: stepPdeathsig sets it
// again. And once the function runs, WatchParent covers what the signal
// cannot (a parent that is gone before the signal was set again).

// stepPdeathsig: an id change clears the parent-death signal; set it
// again, then make sure the parent did not die in between (the channel
// hangs up).
func stepPdeathsig(_ *sandbox.Options, cfg Config, _ *Applied) error {
	if !cfg.DieWithParent {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fail("parent", "prctl PR_SET_PDEATHSIG", "", err)
	}
	fds := []unix.PollFd{{Fd: int32(cfg.Ctrl), Events: unix.POLLRDHUP}}
	if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0 {
		os.Exit(124) // the parent is gone: nobody to report to
	}
	return nil
}

// WatchParent ends the process with exit code code when the parent's end
// of the channel ctrl closes: the parent died (the parent-death signal
// covers most of that, this covers the rest). It reads ctrl until then,
// so nothing else may read it; run it on a goroutine of its own.
func WatchParent(ctrl *os.File, code int) {
	var b [1]byte
	for {
		if _, err := ctrl.Read(b[:]); err != nil {
			os.Exit(code)
		}
	}
}
