package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// parseIDMap parses CONTAINER:HOST:SIZE, as --uid-map and --gid-map take it.
func parseIDMap(s string) (specs.LinuxIDMapping, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return specs.LinuxIDMapping{}, fmt.Errorf("%q is not CONTAINER:HOST:SIZE", s)
	}
	var v [3]uint32
	for i, p := range f {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return specs.LinuxIDMapping{}, fmt.Errorf("%q is not CONTAINER:HOST:SIZE (%q is not an id)", s, p)
		}
		v[i] = uint32(n)
	}
	return specs.LinuxIDMapping{ContainerID: v[0], HostID: v[1], Size: v[2]}, nil
}

// rlimitName turns "nofile", "NOFILE" or "RLIMIT_NOFILE" into the OCI name.
func rlimitName(s string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(n, "RLIMIT_") {
		n = "RLIMIT_" + n
	}
	if _, ok := sandbox.RlimitResource(n); !ok {
		return "", fmt.Errorf("unknown rlimit %q (known: %s)", s, strings.Join(rlimitShortNames(), ", "))
	}
	return n, nil
}

func rlimitShortNames() []string {
	var out []string
	for _, n := range []string{"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"} {
		if _, ok := sandbox.RlimitResource("RLIMIT_" + strings.ToUpper(n)); ok {
			out = append(out, n)
		}
	}
	return out
}

func parseRlimitValue(s string) (uint64, error) {
	switch strings.ToLower(s) {
	case "unlimited", "infinity", "-1":
		return math.MaxUint64, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// parseRlimit parses NAME=SOFT[:HARD]; HARD defaults to SOFT, as prlimit(1)
// does.
func parseRlimit(s string) (specs.POSIXRlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("%q is not NAME=SOFT[:HARD]", s)
	}
	n, err := rlimitName(name)
	if err != nil {
		return specs.POSIXRlimit{}, err
	}
	softS, hardS, both := strings.Cut(val, ":")
	soft, err := parseRlimitValue(softS)
	if err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("%q: soft limit %q is not a number or \"unlimited\"", s, softS)
	}
	hard := soft
	if both {
		if hard, err = parseRlimitValue(hardS); err != nil {
			return specs.POSIXRlimit{}, fmt.Errorf("%q: hard limit %q is not a number or \"unlimited\"", s, hardS)
		}
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("%q: the soft limit is above the hard limit", s)
	}
	return specs.POSIXRlimit{Type: n, Soft: soft, Hard: hard}, nil
}

// parseBind parses SRC[:DST][:ro|:rw] into an OCI bind mount. ro forces a
// read-only mount (--ro-bind).
func parseBind(s string, ro bool) (specs.Mount, error) {
	parts := strings.Split(s, ":")
	mode := ""
	if n := len(parts); n > 1 && (parts[n-1] == "ro" || parts[n-1] == "rw") {
		mode, parts = parts[n-1], parts[:n-1]
	}
	if len(parts) > 2 || parts[0] == "" {
		return specs.Mount{}, fmt.Errorf("%q is not SRC[:DST][:ro] (paths with ':' cannot be given here; use --config)", s)
	}
	if ro && mode == "rw" {
		return specs.Mount{}, fmt.Errorf("%q: --ro-bind is read-only", s)
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return specs.Mount{}, err
	}
	dst := src
	if len(parts) == 2 && parts[1] != "" {
		dst = parts[1]
	}
	if !filepath.IsAbs(dst) {
		return specs.Mount{}, fmt.Errorf("%q: the destination %q must be an absolute path", s, dst)
	}
	opts := []string{"rbind"}
	if ro || mode == "ro" {
		opts = append(opts, "rro") // every mount beneath SRC too
	}
	return specs.Mount{Type: "bind", Source: src, Destination: filepath.Clean(dst), Options: opts}, nil
}

// parseTmpfs parses DST[:OPTIONS] (options as mount(8) writes them:
// size=64m,mode=1777).
func parseTmpfs(s string) (specs.Mount, error) {
	dst, o, _ := strings.Cut(s, ":")
	if !filepath.IsAbs(dst) {
		return specs.Mount{}, fmt.Errorf("%q: the destination must be an absolute path", s)
	}
	opts := []string{"nosuid", "nodev"}
	for _, x := range strings.Split(o, ",") {
		if x != "" && !slices.Contains(opts, x) {
			opts = append(opts, x)
		}
	}
	return specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: filepath.Clean(dst), Options: opts}, nil
}

// parseSize parses a byte count with an optional binary suffix: 1024,
// 512k, 64m, 1g, 2G, 1.5g, 100MiB.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || v*mult > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size (a positive number of bytes, optionally with k, m, g or t)", s)
	}
	return int64(v * mult), nil
}

// cpuPeriod is the CFS period --cpus uses, as docker and podman do.
const cpuPeriod = 100000

// parseCPUs turns "1.5" into a CFS quota for cpuPeriod.
func parseCPUs(s string) (int64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || v > 1<<20 {
		return 0, fmt.Errorf("%q is not a positive number of CPUs", s)
	}
	q := int64(math.Round(v * cpuPeriod))
	if q < 1000 {
		return 0, fmt.Errorf("%q: at least 0.01 CPUs", s)
	}
	return q, nil
}

// capName turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into the OCI
// name, or "ALL".
func capName(s string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if _, err := sandbox.CapabilityValue(n); err != nil {
		return "", fmt.Errorf("unknown capability %q", s)
	}
	return n, nil
}

// parseGroups parses a comma separated list of gids.
func parseGroups(s []string) ([]uint32, error) {
	var out []uint32
	for _, g := range s {
		for _, p := range strings.Split(g, ",") {
			if p == "" {
				continue
			}
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%q is not a numeric gid", p)
			}
			out = append(out, uint32(n))
		}
	}
	return out, nil
}
