package main

import (
	"context"
	"errors"
	"time"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/int80"
)

// i386ProbeName is the function doctor runs, unsandboxed, to ask the
// kernel whether it has the i386 system call ABI: the probe faults where
// it has not, and a seccomp filter around doctor may kill it.
const i386ProbeName = "sandboxrun:doctor-i386"

func init() {
	fork.RegisterFunc(i386ProbeName, probeI386)
}

// probeI386 returns "on" or "off" (the kernel answered int $0x80 with a
// fault).
func probeI386() (string, error) {
	err := int80.Probe()
	switch {
	case err == nil:
		return "on", nil
	case errors.Is(err, int80.ErrOff):
		return "off", nil
	}
	return "", err
}

// i386 reports whether 64-bit processes can make i386 system calls (int
// $0x80). Where they cannot, a seccomp filter's i386 branch (every
// profile for amd64 lists SCMP_ARCH_X86) can never be reached.
func (d *doctor) i386() {
	const name = "i386 ABI"
	if !int80.Supported {
		d.add(name, stInfo, "not an x86-64 build: no i386 system call ABI to reach")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := fork.Call[string](ctx, i386ProbeName, nil)
	switch {
	case err != nil:
		d.add(name, stWarn, "could not be probed (is sandboxrun itself under a seccomp filter?): %s", message(err))
	case out == "on":
		d.add(name, stInfo, "available: 64-bit processes can make i386 system calls (int $0x80); a seccomp filter checks them in its i386 branch")
	default:
		d.add(name, stInfo, "off in this kernel: int $0x80 faults (SIGSEGV), IA-32 emulation is off or not built in; a seccomp filter's i386 branch cannot be reached")
	}
}
