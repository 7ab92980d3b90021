package sandbox

import specs "github.com/opencontainers/runtime-spec/specs-go"

// validateResources refuses the fields of linux.resources (named under
// prefix) that nsfork's cgroup code never writes, which would otherwise
// pass unapplied. The values of the others are checked by the cgroup code,
// which knows the hierarchy (v1 or v2) they go to.
func validateResources(errs *errList, prefix string, r *specs.LinuxResources) {
	if r == nil || r.Memory == nil {
		return
	}
	if r.Memory.UseHierarchy != nil {
		errs.unsupported(prefix+".memory.useHierarchy", "", "nsfork does not write memory.use_hierarchy (cgroup v1 kernels since 5.16 are always hierarchical and cgroup v2 has no such switch); remove the field")
	}
	if c := r.Memory.CheckBeforeUpdate; c != nil && *c {
		errs.unsupported(prefix+".memory.checkBeforeUpdate", "true", "nsfork never updates a sandbox's limits, so there is nothing to check; remove the field")
	}
}
