//go:build cgo

package allthreads

// With cgo nothing is builtin: package psx registers libpsx.
var (
	builtinSyscall6 Func
	builtinLandlock LandlockFunc
)
