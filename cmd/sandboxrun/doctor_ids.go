package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/nsfork/nsfork/sandbox"
)

// identity says which host ids the defaults give a sandbox here, and for
// root whether the pool of ranges can serve them.
func (d *doctor) identity() {
	if !d.hostRoot && errors.Is(sandbox.Default().Validate(), sandbox.ErrHostRoot) {
		r := sandbox.HostRootIDs()
		d.add("identity", stFail, "your uid %d is host root's (your user namespace maps host root to it, as `unshare -r` run by host root does; the kernel told through %s): the defaults would run the sandbox as host uid 0, with the owner's rights on every root-owned file and socket it can reach, and are refused. Run sandboxrun as a user, or as host root outside the user namespace, or add --host-root (trusted code only)", d.euid, r.From)
		return
	}
	if !d.hostRoot {
		d.add("identity", stInfo, "the sandbox's root is your own uid %d (mapped to 0 inside): it has no more rights on the host than you", d.euid)
		return
	}
	var reserved []sandbox.IDRange
	for _, f := range []string{sandbox.SubUIDFile, sandbox.SubGIDFile} {
		r, err := sandbox.AllSubIDs(f)
		if err != nil {
			d.add("identity", stFail, "%s: %v", f, err)
			return
		}
		reserved = append(reserved, r...)
	}
	free := 0
	for s := 0; s < sandbox.IDPoolSlots; s++ {
		base := uint64(sandbox.IDPoolStart + s*sandbox.IDRangeSize)
		clash := false
		for _, r := range reserved {
			clash = clash || (base < uint64(r.Start)+uint64(r.Size) && uint64(r.Start) < base+sandbox.IDRangeSize)
		}
		if !clash {
			free++
		}
	}
	if free == 0 {
		d.add("identity", stFail, "every range of nsfork's pool of host ids (%d-%d) overlaps /etc/subuid or /etc/subgid: root's sandboxes cannot get unprivileged ids; move those subordinate ranges below %d",
			sandbox.IDPoolStart, sandbox.IDPoolEnd-1, sandbox.IDPoolStart)
		return
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(sandbox.IDLeaseDir))); err != nil {
		d.add("identity", stFail, "%s is missing: the leases of host id ranges are kept under it", filepath.Dir(filepath.Dir(sandbox.IDLeaseDir)))
		return
	}
	d.add("identity", stOK, "root's sandboxes run as a range of %d unprivileged host ids of their own, leased from %d-%d (%d ranges usable, leases locked in %s); the identity map of host root only with --host-root (trusted code only)",
		sandbox.IDRangeSize, sandbox.IDPoolStart, sandbox.IDPoolEnd-1, free, sandbox.IDLeaseDir)
}
