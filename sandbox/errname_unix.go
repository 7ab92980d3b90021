//go:build unix

package sandbox

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoName is "EPERM" for syscall.EPERM, "" for 0 or an unknown errno.
func errnoName(e syscall.Errno) string {
	if e == 0 {
		return ""
	}
	return unix.ErrnoName(e)
}
