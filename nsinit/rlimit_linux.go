package nsinit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepRlimit: the parent set the rlimits with prlimit before the request
// was sent (fork/rlimit_linux.go: it can raise a hard limit the child
// could no longer raise). The Go runtime raised RLIMIT_NOFILE at start and
// would restore its start value in every exec'ed child; setting it again
// through syscall.Setrlimit clears that cache. Every limit is checked here
// too. In command mode RLIMIT_AS is the command's (DeferredRlimit): the
// step "rlimit command" sets it, at the end of the setup.
func stepRlimit(o *sandbox.Options, cfg Config, a *Applied) error {
	for _, r := range o.Rlimits {
		res, ok := sandbox.RlimitResource(r.Type)
		if !ok {
			return fail("rlimit", "unknown", r.Type, unix.EINVAL)
		}
		if cfg.Exec && DeferredRlimit(res) {
			recordRlimit(a, r.Type, r.Soft, r.Hard)
			continue
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return fail("rlimit", "getrlimit "+r.Type, "", err)
		}
		want := syscall.Rlimit{Cur: r.Soft, Max: r.Hard}
		if cur.Cur != r.Soft || cur.Max != r.Hard || res == unix.RLIMIT_NOFILE {
			if err := syscall.Setrlimit(res, &want); err != nil {
				return fail("rlimit", "setrlimit "+r.Type, "", err)
			}
		}
		recordRlimit(a, r.Type, r.Soft, r.Hard)
	}
	return nil
}

func recordRlimit(a *Applied, typ string, soft, hard uint64) {
	if a.Rlimits == nil {
		a.Rlimits = map[string][2]uint64{}
	}
	a.Rlimits[typ] = [2]uint64{soft, hard}
}

// DeferredRlimit reports whether, in command mode, the rlimit res is set
// only at the end of the setup (stepRlimitCommand), not while the child
// sets up: RLIMIT_AS. The child is a Go program, whose runtime
// reserves address space generously (its heap arenas and their
// metadata); under a limit of a GiB or so it can die while it sets up
// ("out of memory allocating heap arena metadata", runtime-tools'
// process_rlimits), and the limit is meant for the command. The parent
// sets none of it early but a hard limit above the current one
// (fork/rlimit_linux.go), which the child could not raise.
func DeferredRlimit(res int) bool { return res == unix.RLIMIT_AS }

// goHeadroom is what the child, a Go program, may still map beyond its
// address space once the limit is set (its reaper, signal forwarding and
// report allocate a little; a new thread's stack is mapped).
const goHeadroom = 256 << 20

// stepRlimitCommand sets, in command mode in the sandbox's pid 1, the
// deferred rlimits (DeferredRlimit) on this process, whose command
// inherits them: the last step before the seccomp filter (a profile may
// deny prlimit64), so that they do not disturb the setup. A child that is
// not pid 1 becomes the command: ApplyDeferredRlimits right before its
// execve. (Without a no_new_privs the filter was loaded early, and must
// allow prlimit64 here: Docker's does.)
func stepRlimitCommand(o *sandbox.Options, cfg Config, _ *Applied) error {
	if !cfg.Exec || os.Getpid() != 1 {
		return nil
	}
	return ApplyDeferredRlimits(o)
}

// ApplyDeferredRlimits sets the deferred rlimits of o (DeferredRlimit) on
// the calling process, which then starts the command (the sandbox's pid 1)
// or becomes it (execve): a command-mode child and runtime exec's process.
// Either is a Go program that lives under the limit until then, and pid 1
// for good; its address space is mostly the runtime's reservations (1-2
// GiB), so a limit it cannot live under is refused with the figure it
// needs, not left to kill it at random.
func ApplyDeferredRlimits(o *sandbox.Options) error {
	if o == nil {
		return nil
	}
	for _, r := range o.Rlimits {
		res, ok := sandbox.RlimitResource(r.Type)
		if !ok || !DeferredRlimit(res) {
			continue
		}
		if m, err := readProcStatus(nil, "/proc/self/status"); err == nil {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(m["VmSize"]), " kB"), 10, 64)
			if need := kb<<10 + goHeadroom; kb > 0 && r.Soft < need {
				return fail("rlimit", fmt.Sprintf("%s %d: the sandbox's child, a Go program that starts the command (and stays, as pid 1) or becomes it, maps %d MiB already (the runtime's reservations) and would die under it; give at least %d", r.Type, r.Soft, kb>>10, need), "", unix.EINVAL)
			}
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fail("rlimit", "setrlimit "+r.Type+" (before the command)", "", err)
		}
	}
	return nil
}
