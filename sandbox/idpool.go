package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Host ids for sandboxes started by root.
//
// When root starts a sandbox with a new user namespace and gives no id maps,
// the sandbox's ids 0 to 65535 are mapped onto a range of 65536 host ids of
// its own, leased from nsfork's pool for as long as the sandbox runs (the
// fork package keeps the lease: a lock file per range in IDLeaseDir). The
// sandbox's root is then an unprivileged user on the host: the kernel gives
// it no owner's rights on /proc/sys, /sys, cgroup files or root-owned files
// and sockets, and it can signal or trace no process outside its own range.
// Two sandboxes never share a range unless they share an IDRangeKey (the
// ranks of one MPI job).
//
// The pool lies right above systemd-nspawn's container range
// (524288-1879048191) and below systemd's foreign range (from 2147352576),
// under 2^31 so that no tool reads an id as negative. Ranges listed in
// /etc/subuid or /etc/subgid for any user are never leased.
const (
	IDPoolStart = 0x70000000 // 1879048192
	IDPoolEnd   = 0x7FFE0000 // 2147352576, exclusive
	IDRangeSize = 0x10000    // 65536 ids per sandbox
	// IDLeaseDir holds one lock file per leased range (root only).
	IDLeaseDir = "/run/nsfork/idranges"
)

// IDPoolSlots is the number of ranges in the pool.
const IDPoolSlots = (IDPoolEnd - IDPoolStart) / IDRangeSize

// PoolRange returns the host ids of the pool's range number slot: the map
// of ids 0-65535 inside onto them.
func PoolRange(slot int) []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(IDPoolStart + slot*IDRangeSize), Size: IDRangeSize}}
}

// LeasesIDRange reports whether starting o needs a range from the pool: the
// caller is host root (RootInInitialUserNS), o creates a user namespace,
// and neither uidMappings nor gidMappings is given.
func (o *Options) LeasesIDRange() bool {
	return o.leasesIDRange(liveHost())
}

func (o *Options) leasesIDRange(h *host) bool {
	return !h.rootless() && o.NewNamespace(specs.UserNamespace) &&
		len(o.UIDMappings) == 0 && len(o.GIDMappings) == 0
}
