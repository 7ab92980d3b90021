//go:build !amd64

package int80

// Syscall is not available on this architecture.
func Syscall(trap, a1, a2, a3 uintptr) int32 { panic("int80: amd64 only") }

// Supported tells whether this architecture has the stub.
const Supported = false
