//go:build !cgo

package allthreads

import (
	"syscall"

	"github.com/nsfork/nsfork/internal/llrestrict"
)

// Without cgo the Go runtime changes every thread itself, and go-landlock
// goes through the same call (its psx is syscall.AllThreadsSyscall here).
var (
	builtinSyscall6 Func         = syscall.AllThreadsSyscall6
	builtinLandlock LandlockFunc = llrestrict.Restrict
)
