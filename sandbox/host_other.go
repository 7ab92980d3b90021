//go:build !linux

package sandbox

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func nsType(string) (specs.LinuxNamespaceType, error) {
	return "", errors.ErrUnsupported
}

func ownNS(string, specs.LinuxNamespaceType) (bool, error) {
	return false, errors.ErrUnsupported
}
