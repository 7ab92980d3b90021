//go:build !cgo

package nsinit

// cgoBuild: psx is syscall.AllThreadsSyscall here, which needs no /proc.
const cgoBuild = false

// ThreadsThroughProc reports whether the per-thread steps find the
// process's threads through /proc by path; syscall.AllThreadsSyscall needs
// no /proc.
const ThreadsThroughProc = cgoBuild
