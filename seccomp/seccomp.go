package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// seccomp(2) filter flags (SECCOMP_FILTER_FLAG_* of <linux/seccomp.h>).
const (
	flagTSYNC            = 0x1
	flagLog              = 0x2
	flagSpecAllow        = 0x4
	flagWaitKillableRecv = 0x20
)

// FlagBits turns the OCI flags of a profile into seccomp(2) flag bits.
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only means something with a
// notify listener, which this package does not support: it is an error
// wrapping errors.ErrUnsupported. TSYNC is not among the bits: Load always
// adds it.
func FlagBits(flags []specs.LinuxSeccompFlag) (uint, error) {
	var bits uint
	for i, f := range flags {
		field := fmt.Sprintf("flags[%d]", i)
		switch f {
		case specs.LinuxSeccompFlagLog:
			bits |= flagLog
		case specs.LinuxSeccompFlagSpecAllow:
			bits |= flagSpecAllow
		case specs.LinuxSeccompFlagWaitKillableRecv:
			return 0, &CompileError{Field: field, Err: fmt.Errorf("flag %s needs a notify listener: %w", f, errors.ErrUnsupported)}
		default:
			return 0, errorf(field, "unknown flag %q", f)
		}
	}
	return bits, nil
}

// Load installs prog as a seccomp filter on every thread of the calling
// process: seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC|flags).
// TSYNC also sets no_new_privs on every thread when the caller has it set.
// The caller must have set no_new_privs (prctl(PR_SET_NO_NEW_PRIVS)) or hold
// CAP_SYS_ADMIN in its effective set; Load checks that first and fails
// with a clear error otherwise. A thread that cannot be synchronised makes
// Load fail with a *TSyncError naming it. Load is Linux-only; elsewhere it
// returns an error wrapping errors.ErrUnsupported.
func Load(prog []bpf.Instruction, flags ...specs.LinuxSeccompFlag) error {
	p, err := NewProgram(prog, flags...)
	if err != nil {
		return err
	}
	return p.Load()
}

// Install compiles p for the native architecture and loads it with its
// flags. A nil p (unconfined) installs nothing.
func Install(p *specs.LinuxSeccomp) error {
	if p == nil {
		return nil
	}
	prog, err := CompileProgram(p, nativeGOARCH)
	if err != nil {
		return err
	}
	return prog.Load()
}

// TSyncError reports the thread that seccomp(2) could not synchronise
// with the new filter (its return value with SECCOMP_FILTER_FLAG_TSYNC).
type TSyncError struct {
	TID int
}

func (e *TSyncError) Error() string {
	return fmt.Sprintf("seccomp: load: thread %d could not be synchronised (TSYNC): it runs a different seccomp filter or mode", e.TID)
}
