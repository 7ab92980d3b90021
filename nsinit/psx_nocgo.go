//go:build !cgo

package nsinit

// cgoBuild: psx is syscall.AllThreadsSyscall here, which needs no /proc.
const cgoBuild = false
