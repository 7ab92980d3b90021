package main

// Process limits: --cap-add/--cap-drop, the cgroup resources (--memory,
// --cpus, --cpuset, --pids) and RLIMIT_NPROC.

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/cgroups"
	"github.com/nsfork/nsfork/sandbox"
)

func (f *runFlags) capabilities(opts *sandbox.Options) error {
	if len(f.capAdd) == 0 && len(f.capDrop) == 0 {
		return nil
	}
	var set []string
	if c := opts.Capabilities; c != nil {
		set = slices.Clone(c.Bounding)
	} else {
		// Nil keeps what the process has: start from every capability so
		// that --cap-drop NAME means "all but NAME".
		set = sandbox.CapabilityNames()
	}
	var drops []string
	for _, s := range f.capDrop {
		for _, x := range strings.Split(s, ",") {
			n, err := capName(x)
			if err != nil {
				return fmt.Errorf("--cap-drop: %w", err)
			}
			if n == "ALL" {
				set = nil
			} else {
				drops = append(drops, n)
			}
		}
	}
	for _, s := range f.capAdd {
		for _, x := range strings.Split(s, ",") {
			n, err := capName(x)
			if err != nil {
				return fmt.Errorf("--cap-add: %w", err)
			}
			if n == "ALL" {
				set = sandbox.CapabilityNames()
				continue
			}
			if slices.Contains(drops, n) {
				return fmt.Errorf("--cap-add %s and --cap-drop %s contradict each other", x, x)
			}
			if !slices.Contains(set, n) {
				set = append(set, n)
			}
		}
	}
	set = slices.DeleteFunc(set, func(n string) bool { return slices.Contains(drops, n) })
	slices.Sort(set)
	opts.Capabilities = &specs.LinuxCapabilities{
		Bounding: set, Effective: slices.Clone(set), Permitted: slices.Clone(set),
		Inheritable: slices.Clone(set), Ambient: slices.Clone(set),
	}
	return nil
}

func (f *runFlags) resources(opts *sandbox.Options) error {
	if f.changed("cgroup-path") {
		opts.CgroupsPath = f.cgroupParent
	}
	if f.cgroupBest {
		opts.CgroupsBestEffort = true
	}
	pids, err := f.pidsLimit(opts)
	if err != nil {
		return err
	}
	if f.memory == "" && pids == 0 && f.cpus == "" && f.cpuset == "" {
		return nil
	}
	r := opts.Resources
	if r == nil {
		r = &specs.LinuxResources{}
	}
	if f.memory != "" {
		v, err := parseSize(f.memory)
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		r.Memory.Limit = &v
	}
	if pids != 0 {
		r.Pids = &specs.LinuxPids{Limit: &pids}
	}
	if f.cpus != "" || f.cpuset != "" {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
	}
	if f.cpus != "" {
		q, err := parseCPUs(f.cpus)
		if err != nil {
			return fmt.Errorf("--cpus: %w", err)
		}
		per := uint64(cpuPeriod)
		r.CPU.Quota, r.CPU.Period = &q, &per
	}
	if f.cpuset != "" {
		r.CPU.Cpus = f.cpuset
	}
	opts.Resources = r
	return nil
}

// pidsLimit applies --pids to the presets' RLIMIT_NPROC (N replaces it,
// "unlimited" removes it) and returns the pids cgroup limit it asks for (0:
// none).
func (f *runFlags) pidsLimit(opts *sandbox.Options) (int64, error) {
	if f.pids == "" {
		return 0, nil
	}
	opts.Rlimits = slices.DeleteFunc(opts.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == "RLIMIT_NPROC" })
	if f.pids == "unlimited" {
		return 0, nil
	}
	n, err := strconv.ParseInt(f.pids, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--pids %q: a positive number, or unlimited", f.pids)
	}
	opts.Rlimits = append(opts.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: uint64(n), Hard: uint64(n)})
	return n, nil
}

// dropEmptyResources drops a config's linux.resources that sets no limit
// at all ({}, as rootless podman writes it) when the caller is not host
// root and no cgroup was delegated to it: the sandbox's cgroup would only
// account, which such a caller cannot have, and runc runs that config
// without one too. Any limit still fails closed without delegation. The
// note says so; "" when nothing was dropped.
func dropEmptyResources(opts *sandbox.Options) string {
	r := opts.Resources
	if r == nil || opts.CgroupsPath != "" || sandbox.RootInInitialUserNS() || !reflect.ValueOf(*r).IsZero() {
		return ""
	}
	if cgroups.Probe().Delegated {
		return ""
	}
	opts.Resources = nil
	return "linux.resources: sets no limit, and no cgroup is delegated to this caller (not host root): the container runs without a cgroup of its own, as with runc"
}
