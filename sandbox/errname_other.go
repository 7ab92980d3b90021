//go:build !unix

package sandbox

import "syscall"

func errnoName(syscall.Errno) string { return "" }
