package int80

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Syscall makes system call trap of the i386 ABI through int $0x80 with
// three arguments (truncated to 32 bits by the kernel) and returns the raw
// result (a negative errno on failure). Where the kernel has no i386 ABI it
// faults (SIGSEGV): call Probe first.
func Syscall(trap, a1, a2, a3 uintptr) int32

// Supported tells whether this architecture has the stub.
const Supported = true

// Probe makes one i386 getppid through int $0x80 and returns nil if the
// kernel ran it (the result is the parent's pid), an error wrapping ErrOff
// if the kernel refused it with a fault, and any other error (an errno a
// seccomp filter returned, a wrong result) as it is.
//
// Run it in a process that may die: a seccomp filter that kills calls of
// a foreign ABI kills the caller, as systemd's SystemCallArchitectures=
// native does. The fault itself is recovered: it is taken on a thread of
// its own, which ends with the probe.
func Probe() error {
	type result struct {
		ret   int32
		fault any
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread that took the fault exits with this
		// goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		var r result
		defer func() { ch <- r }()
		defer func() { r.fault = recover() }()
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		r.ret = Syscall(getppidI386, 0, 0, 0)
	}()
	r := <-ch
	if r.fault != nil {
		if _, ok := r.fault.(interface{ Addr() uintptr }); ok {
			return fmt.Errorf("%w: int $0x80 (i386 getppid) from a 64-bit process faulted with SIGSEGV instead of entering the kernel", ErrOff)
		}
		return fmt.Errorf("int80: int $0x80 (i386 getppid) panicked: %v", r.fault)
	}
	if r.ret < 0 && r.ret > -4096 {
		return fmt.Errorf("int80: int $0x80 (i386 getppid): %w", syscall.Errno(-r.ret))
	}
	if want := os.Getppid(); int(r.ret) != want {
		return fmt.Errorf("int80: int $0x80 (i386 getppid) returned %d, want the parent's pid %d", r.ret, want)
	}
	return nil
}
