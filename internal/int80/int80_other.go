//go:build !amd64

package int80

import (
	"errors"
	"fmt"
	"runtime"
)

// Syscall is not available on this architecture.
func Syscall(trap, a1, a2, a3 uintptr) int32 { panic("int80: amd64 only") }

// Supported tells whether this architecture has the stub.
const Supported = false

// Probe returns errors.ErrUnsupported: only an x86-64 process has an i386
// ABI to try.
func Probe() error {
	return fmt.Errorf("int80: %s has no i386 system call ABI to probe: %w", runtime.GOARCH, errors.ErrUnsupported)
}
