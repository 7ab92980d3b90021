// Package int80 lets tests of package seccomp make an i386-ABI system call
// (int $0x80) from a 64-bit process.
package int80
