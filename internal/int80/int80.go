// Package int80 makes i386-ABI system calls (int $0x80) from a 64-bit
// process, for the seccomp tests that try a filter's i386 branch live, and
// tells whether the running kernel has that ABI at all (Probe), for those
// tests and for `sandboxrun doctor`.
//
// # IA-32 emulation
//
// An x86-64 kernel runs i386 system calls only with IA-32 emulation:
// built in (CONFIG_IA32_EMULATION) and not switched off at boot
// (ia32_emulation=false, CONFIG_IA32_EMULATION_DEFAULT_DISABLED, or a
// platform that overrides both). Neither /proc/config.gz nor /proc/cmdline
// says what the running kernel decided: on a kernel whose platform turned
// the emulation off, both can read "enabled". The kernel's answer to the
// call itself does: where the emulation is off, int $0x80 is not a system
// call gate and the CPU's general protection fault reaches the process as
// SIGSEGV. Probe makes that call and reads the answer.
package int80

import "errors"

// ErrOff is the kernel's answer that it has no i386 system call ABI: int
// $0x80 faulted (SIGSEGV) instead of entering the kernel.
var ErrOff = errors.New("int80: the kernel has no i386 system call ABI (IA-32 emulation is off or not built in)")

// getppidI386 is getppid's number in the i386 ABI.
const getppidI386 = 64
