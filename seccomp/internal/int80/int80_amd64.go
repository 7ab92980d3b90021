package int80

// Syscall makes system call trap of the i386 ABI through int $0x80 with
// three arguments (truncated to 32 bits by the kernel) and returns the raw
// result (a negative errno on failure).
func Syscall(trap, a1, a2, a3 uintptr) int32

// Supported tells whether this architecture has the stub.
const Supported = true
