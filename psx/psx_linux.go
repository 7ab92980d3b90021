package psx

import (
	libpsx "kernel.org/pub/linux/libs/security/libcap/psx"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/internal/llrestrict"
)

func init() {
	allthreads.Register(libpsx.Syscall6, llrestrict.Restrict)
}
