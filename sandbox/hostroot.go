package sandbox

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrHostRoot is matched (with errors.Is) by the *Error Validate returns
// when the sandbox's ids would be host root's (uid 0 or gid 0 of the
// initial user namespace) for a caller that is not host root: root of a
// user namespace that maps host root, as `unshare -r` run by host root
// makes. Without capabilities over the host such a sandbox still has the
// owner's rights on every root-owned file and unix socket it can reach
// and may signal root's processes it can see. Options.TrustedHostRoot
// (HostRoot, `sandboxrun --host-root`) opts in, for trusted code only.
var ErrHostRoot = errors.New("the sandbox's ids would be host root's")

// RootIDs are the uid and gid that host root (uid and gid 0 of the initial
// user namespace) has in the caller's user namespace; nil where the
// namespace does not map it. From says how the kernel told.
type RootIDs struct {
	UID, GID *uint32
	From     string
}

// HostRootIDs returns the ids host root has in the caller's user namespace
// (see RootIDs). The kernel owns every namespace file (nsfs) by host root,
// and fstat shows that owner as the caller's namespace sees it: the id
// host root is mapped to, or the overflow id (/proc/sys/kernel/overflowuid,
// 65534) where it is not mapped. The file is the caller's user namespace
// as a pidfd of its own hands it out (PIDFD_GET_USER_NAMESPACE, Linux
// 6.11); before that kernel, /proc/self/ns/user, a path which only the
// caller itself (root of its namespace, with a mount namespace of its own)
// could mount another file on. An overflow id is read as "not mapped"
// only where the caller's own uid_map (gid_map) shows the overflow id is
// no id host root has (and, nested two deep, the kernel's owner test
// agrees), or where it is no id at all and the caller's own id is
// another (see rootID). Where the kernel tells nothing, host root
// is taken to be mapped to 0 (fail closed: only root of a namespace is
// then refused). The namespace is read once per process.
func HostRootIDs() RootIDs { return hostRootIDs() }

// rootID reads one of host root's ids in the caller's namespace from seen,
// the owner of an nsfs file (st_uid or st_gid). overflow gives the
// kernel's overflow id, own is the caller's euid (egid), readMap reads its
// /proc/self/uid_map (gid_map); both are called only where seen may be the
// overflow id. seen 0 is host root's id (were the overflow id set to 0,
// that would refuse more, never less). seen other than the overflow id is
// host root's id. seen equal to it is host root's id only if the
// namespace maps the overflow id onto host id 0 (exact for a namespace
// whose parent is the initial one); a map that has no overflow id means
// host root is unmapped, unless the caller's own id is the overflow id
// too: then the caller's own id is unmapped (it entered the namespace
// keeping its credentials) and might be host root itself. A map that
// sends the overflow id to a non-zero parent id is exact only one level
// deep: nested deeper, the parent may map that id to host root, so the
// kernel is asked (owns, see ownsUserNS: the caller is host root, or
// holds CAP_FOWNER in a namespace mapping host root's uid); where
// it says no, the overflow id is host root's only if it is the caller's
// own id and ownTested is false (the kernel's owner test compares uids,
// so it tells a caller's own gid nothing). An unreadable map fails
// closed.
func rootID(seen uint32, overflow func() uint32, own int, readMap func() ([]byte, error), owns func() bool, ownTested bool) *uint32 {
	if seen == 0 {
		return &seen
	}
	of := overflow()
	if seen != of {
		return &seen
	}
	idMap, err := readMap()
	if err != nil {
		return &seen
	}
	lines, err := parseProcIDMapLines(idMap)
	if err != nil {
		return &seen
	}
	for _, l := range lines {
		if uint64(of) >= uint64(l.ContainerID) && uint64(of) < uint64(l.ContainerID)+uint64(l.Size) {
			if l.HostID+(of-l.ContainerID) == 0 {
				return &seen
			}
			// The parent id is a host id only where the parent is the
			// initial namespace; two deep, a parent that maps host root
			// to a non-zero id may map that onto the overflow id here.
			if owns() || int64(own) == int64(of) && !ownTested {
				return &seen
			}
			return nil
		}
	}
	if int64(own) == int64(of) {
		return &seen
	}
	return nil
}

// validateHostRoot refuses, for a caller that is not host root, a sandbox
// whose ids would be host root's (ErrHostRoot), unless TrustedHostRoot.
// Zero Options are no sandbox: the child is the caller as it is.
func (o *Options) validateHostRoot(errs *errList, h *host) {
	if h.hostRoot || o.TrustedHostRoot || reflect.ValueOf(*o).IsZero() {
		return
	}
	uidMap, gidMap := o.effectiveIDMappings(h)
	var fields, hows []string
	for _, c := range []struct {
		kind, field string
		root        *uint32
		m           []specs.LinuxIDMapping
		given       bool
		runsAs      []uint32
		cap         string
		capBit      uint
	}{
		{"uid", "uidMappings", h.rootIDs.UID, uidMap, len(o.UIDMappings) > 0, []uint32{o.User.UID}, "CAP_SETUID", 7},
		{"gid", "gidMappings", h.rootIDs.GID, gidMap, len(o.GIDMappings) > 0, append([]uint32{o.User.GID}, o.User.AdditionalGids...), "CAP_SETGID", 6},
	} {
		if c.root == nil {
			continue
		}
		r := *c.root
		field, how := c.field, ""
		if o.NewNamespace(specs.UserNamespace) {
			for i, e := range c.m {
				if uint64(r) >= uint64(e.HostID) && uint64(r) < uint64(e.HostID)+uint64(e.Size) {
					field, how = fmt.Sprintf("%s[%d]", c.field, i), fmt.Sprintf("maps %s %d of the sandbox's user namespace onto your %s %d", c.kind, uint64(e.ContainerID)+uint64(r-e.HostID), c.kind, r)
					if !c.given {
						field, how = c.field, fmt.Sprintf("(none given) maps the sandbox's %s 0 onto your own %s %d", c.kind, c.kind, r)
					}
					break
				}
			}
		} else {
			own := uint32(h.euid)
			if c.kind == "gid" {
				own = uint32(h.egid)
			}
			runsAs := []uint32{own}
			if o.AppliesUser() {
				runsAs = c.runsAs
			}
			switch {
			case slices.Contains(runsAs, r):
				field, how = "user."+c.kind, fmt.Sprintf("without a user namespace of its own the sandbox runs as your %s %d", c.kind, r)
			case keepsCap(o, c.cap) && h.holdsCap(c.capBit):
				field, how = "capabilities.bounding", fmt.Sprintf("without a user namespace of its own the sandbox keeps %s and may become your %s %d", c.cap, c.kind, r)
			}
		}
		if how == "" && c.kind == "gid" && slices.Contains(h.groups, int(r)) {
			// A caller that is not host root cannot drop its
			// supplementary groups in the sandbox: the user namespace
			// it makes denies setgroups, and without one the sandbox
			// keeps the caller's groups.
			field, how = "groups", fmt.Sprintf("the sandbox keeps your supplementary groups, which it cannot drop, and one is gid %d", r)
		}
		if how != "" {
			fields, hows = append(fields, field), append(hows, how+fmt.Sprintf(" (host %s 0)", c.kind))
		}
	}
	if len(hows) == 0 {
		return
	}
	errs.addErr(strings.Join(fields, ", "), "", strings.Join(hows, "; ")+
		": you are not host root, but that id is host root's as your user namespace shows it (root of a user namespace that maps host root, as `unshare -r` run by host root makes; a user whose group is gid 0; or an id the kernel leaves unmapped, which may be host root's), and the sandbox would have root's owner or group rights on every root-owned file and unix socket it can reach. "+
		"Run the launcher as a user whose ids are not host root's, or as host root outside any user namespace, or opt in, for trusted code only, with sandboxrun --host-root (Go: Options.TrustedHostRoot)",
		ErrHostRoot)
}

// keepsCap reports whether the sandbox's bounding set may hold capability
// name: nil Capabilities keep the caller's.
func keepsCap(o *Options, name string) bool {
	return o.Capabilities == nil || slices.Contains(o.Capabilities.Bounding, name)
}
