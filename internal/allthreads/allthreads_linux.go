// Package allthreads runs a system call on every OS thread of the process
// at once: the mechanism behind nsinit's per-thread steps (capabilities,
// the bounding set, no_new_privs, late namespaces, Landlock).
//
// Without cgo it is the Go runtime's syscall.AllThreadsSyscall6, always
// there. With cgo the runtime refuses that call (ENOTSUP) and the job
// needs libcap's libpsx (C code); a cgo program links it only when it
// imports github.com/nsfork/nsfork/psx, which registers it here. Until
// then Available fails with ErrNoPSX, and so does every call.
package allthreads

import (
	"errors"
	"syscall"
)

// ErrNoPSX: a cgo build without github.com/nsfork/nsfork/psx.
var ErrNoPSX = errors.New(`a cgo build changes every thread through libcap's libpsx, which this program does not link: add import _ "github.com/nsfork/nsfork/psx" to it, or build it with CGO_ENABLED=0`)

// Func is a system call run on every thread, as syscall.AllThreadsSyscall6.
type Func func(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)

// LandlockFunc restricts every thread to the paths given (read-only and
// read-write, Landlock ABI 5, or what the kernel has when bestEffort) and
// returns the kernel's ABI version.
type LandlockFunc func(ro, rw []string, bestEffort bool) (abi int, err error)

// The mechanisms, builtin without cgo (nocgo_linux.go), registered by
// package psx with it.
var (
	syscall6 Func         = builtinSyscall6
	landlock LandlockFunc = builtinLandlock
)

// Register installs the all-threads system call and Landlock's
// enforcement; package psx calls it from its init.
func Register(f Func, l LandlockFunc) {
	syscall6, landlock = f, l
}

// Available returns ErrNoPSX when there is no way to change every thread.
func Available() error {
	if syscall6 == nil || landlock == nil {
		return ErrNoPSX
	}
	return nil
}

// Syscall6 runs the system call trap on every thread, or returns ENOTSUP
// when Available fails. Pointers converted to uintptr in its arguments
// stay where they are until it returns.
//
//go:uintptrescapes
func Syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	if syscall6 == nil {
		return 0, 0, syscall.ENOTSUP
	}
	return syscall6(trap, a1, a2, a3, a4, a5, a6)
}

// Landlock restricts every thread to ro and rw (see LandlockFunc), or
// returns ErrNoPSX when Available fails.
func Landlock(ro, rw []string, bestEffort bool) (int, error) {
	if landlock == nil {
		return 0, ErrNoPSX
	}
	return landlock(ro, rw, bestEffort)
}
