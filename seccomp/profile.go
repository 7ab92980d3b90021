package seccomp

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultProfile returns Docker's default profile (the one
// github.com/moby/profiles/seccomp defines) resolved for a process whose
// effective capabilities are caps (names such as "CAP_SYS_ADMIN") on
// architecture arch (a GOARCH, "amd64" or "arm64"): capability, architecture
// and kernel-version conditional rules are applied, and the architectures
// are the native one and its sub-architectures. It is Linux-only.
func DefaultProfile(caps []string, arch string) (*specs.LinuxSeccomp, error) {
	return defaultProfile(caps, arch)
}

// LoadProfile decodes a profile in either of two JSON forms: an OCI
// runtime-spec LinuxSeccomp object, or a Docker profile (with "archMap",
// "includes", "excludes", "name" or "comment"), which is resolved like
// DefaultProfile does. Unknown fields are errors in the OCI form. A profile
// with neither a default action nor syscalls means unconfined: nil, nil.
func LoadProfile(data []byte, caps []string, arch string) (*specs.LinuxSeccomp, error) {
	return loadProfile(data, caps, arch)
}

// Named resolves a profile by name: "" or "default" is DefaultProfile,
// "unconfined" is nil (no filter), anything else is the path of a JSON
// profile read with LoadProfile.
func Named(name string, caps []string, arch string) (*specs.LinuxSeccomp, error) {
	switch name {
	case "", "default":
		return DefaultProfile(caps, arch)
	case "unconfined":
		return nil, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("seccomp: profile: %w", err)
	}
	p, err := LoadProfile(data, caps, arch)
	if err != nil {
		return nil, fmt.Errorf("seccomp: profile %s: %w", name, err)
	}
	return p, nil
}
