//go:build !linux

package seccomp

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/net/bpf"
)

const nativeGOARCH = runtime.GOARCH

// ErrNoNewPrivs is wrapped by Load's error when the caller has neither
// no_new_privs nor CAP_SYS_ADMIN.
var ErrNoNewPrivs = errors.New("neither no_new_privs nor CAP_SYS_ADMIN is set")

func load([]bpf.RawInstruction, uint) error {
	return fmt.Errorf("seccomp: load: %w", errors.ErrUnsupported)
}
