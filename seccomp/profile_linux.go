package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	mseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/lookup"
)

// libseccompArch is the architecture name Docker profiles use in
// "includes"/"excludes" "arches", by GOARCH.
var libseccompArch = lookup.Table[string, string]{{Key: "amd64", Val: "amd64"}, {Key: "arm64", Val: "arm64"}}

func capsSpec(caps []string) *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}}}
}

func checkArch(arch string) error {
	if _, ok := nativeArch.Get(arch); !ok {
		return fmt.Errorf("seccomp: architecture %q: %w", arch, errors.ErrUnsupported)
	}
	return nil
}

func defaultProfile(caps []string, arch string) (*specs.LinuxSeccomp, error) {
	if err := checkArch(arch); err != nil {
		return nil, err
	}
	if arch == runtime.GOARCH {
		// moby's own conversion resolves for runtime.GOARCH.
		p, err := mseccomp.GetDefaultProfile(capsSpec(caps))
		if err != nil {
			return nil, fmt.Errorf("seccomp: default profile: %w", err)
		}
		return p, nil
	}
	return resolveDocker(mseccomp.DefaultProfile(), caps, arch)
}

// isDocker tells a Docker profile from an OCI one by the fields only the
// Docker form has.
func isDocker(data []byte) (bool, error) {
	var probe struct {
		ArchMap  json.RawMessage              `json:"archMap"`
		Syscalls []map[string]json.RawMessage `json:"syscalls"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return false, fmt.Errorf("seccomp: profile: %w", err)
	}
	if probe.ArchMap != nil {
		return true, nil
	}
	for _, s := range probe.Syscalls {
		for _, k := range []string{"includes", "excludes", "name", "comment"} {
			if _, ok := s[k]; ok {
				return true, nil
			}
		}
	}
	return false, nil
}

func loadProfile(data []byte, caps []string, arch string) (*specs.LinuxSeccomp, error) {
	if err := checkArch(arch); err != nil {
		return nil, err
	}
	docker, err := isDocker(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if !docker {
		var p specs.LinuxSeccomp
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("seccomp: OCI profile: %w", err)
		}
		if p.DefaultAction == "" && len(p.Syscalls) == 0 {
			return nil, nil
		}
		return &p, nil
	}
	var cfg mseccomp.Seccomp
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("seccomp: Docker profile: %w", err)
	}
	if arch == runtime.GOARCH {
		p, err := mseccomp.LoadProfile(string(data), capsSpec(caps))
		if err != nil {
			return nil, fmt.Errorf("seccomp: Docker profile: %w", err)
		}
		return p, nil
	}
	return resolveDocker(&cfg, caps, arch)
}

// resolveDocker applies a Docker profile's conditions for an architecture
// other than runtime.GOARCH, which moby's conversion cannot do; the rules
// are moby's (tests hold the two to the same output for the native one).
func resolveDocker(cfg *mseccomp.Seccomp, caps []string, arch string) (*specs.LinuxSeccomp, error) {
	if cfg.DefaultAction == "" && len(cfg.Syscalls) == 0 {
		return nil, nil
	}
	if len(cfg.Architectures) != 0 && len(cfg.ArchMap) != 0 {
		return nil, errors.New("seccomp: Docker profile: both 'architectures' and 'archMap' are set")
	}
	out := cfg.LinuxSeccomp
	out.Syscalls = nil
	native := nativeArch.Value(arch)
	for _, a := range cfg.ArchMap {
		if a.Arch == native {
			out.Architectures = append(append(out.Architectures, a.Arch), a.SubArches...)
			break
		}
	}
	name := libseccompArch.Value(arch)
	kernel, err := kernelVersion()
	if err != nil {
		return nil, err
	}
	atLeast := func(k *mseccomp.KernelVersion) bool {
		return kernel[0] > k.Kernel || kernel[0] == k.Kernel && kernel[1] >= k.Major
	}
	hasAny := func(want []string) bool {
		return slices.ContainsFunc(want, func(c string) bool { return slices.Contains(caps, c) })
	}
	hasAll := func(want []string) bool {
		return !slices.ContainsFunc(want, func(c string) bool { return !slices.Contains(caps, c) })
	}
	for i, call := range cfg.Syscalls {
		sc := call.LinuxSyscall
		//lint:ignore SA1019 old Docker profiles still use name; read them
		if call.Name != "" {
			if len(sc.Names) != 0 {
				return nil, fmt.Errorf("seccomp: Docker profile: syscalls[%d]: both 'name' and 'names' are set", i)
			}
			//lint:ignore SA1019 old Docker profiles still use name; read them
			sc.Names = []string{call.Name}
		}
		if ex := call.Excludes; ex != nil {
			if slices.Contains(ex.Arches, name) || hasAny(ex.Caps) || ex.MinKernel != nil && atLeast(ex.MinKernel) {
				continue
			}
		}
		if in := call.Includes; in != nil {
			if len(in.Arches) > 0 && !slices.Contains(in.Arches, name) || !hasAll(in.Caps) || in.MinKernel != nil && !atLeast(in.MinKernel) {
				continue
			}
		}
		out.Syscalls = append(out.Syscalls, sc)
	}
	return &out, nil
}

func kernelVersion() ([2]uint64, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]uint64{}, fmt.Errorf("seccomp: uname: %w", err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(strings.FieldsFunc(rel, func(r rune) bool { return r == '-' || r == '+' })[0], ".", 3)
	var v [2]uint64
	for i := 0; i < 2 && i < len(parts); i++ {
		n, err := strconv.ParseUint(parts[i], 10, 32)
		if err != nil {
			return v, fmt.Errorf("seccomp: kernel release %q: %w", rel, err)
		}
		v[i] = n
	}
	return v, nil
}
