//go:build !linux

package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func defaultProfile([]string, string) (*specs.LinuxSeccomp, error) {
	return nil, fmt.Errorf("seccomp: default profile: %w", errors.ErrUnsupported)
}

func loadProfile([]byte, []string, string) (*specs.LinuxSeccomp, error) {
	return nil, fmt.Errorf("seccomp: profile: %w", errors.ErrUnsupported)
}
