package main

// Namespaces and identity: --unshare-*, --share, --uid/--gid and the id
// maps, and the host-root refusals of a root caller.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/passwd"
	"github.com/nsfork/nsfork/sandbox"
)

func (f *runFlags) namespaces(opts *sandbox.Options) error {
	keep := map[specs.LinuxNamespaceType]string{}
	if f.shareNet {
		keep[specs.NetworkNamespace] = "--share-net"
	}
	for _, s := range f.share {
		t, ok := shareNames.Get(strings.ToLower(s))
		if !ok {
			return fmt.Errorf("--share %q: not a namespace type (user, pid, net, ipc, uts, cgroup, time, mount)", s)
		}
		keep[t] = "--share " + s
	}
	var add []specs.LinuxNamespaceType
	if f.unshareAll {
		add = append(add, specs.PIDNamespace, specs.MountNamespace, specs.NetworkNamespace,
			specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace)
	}
	for _, u := range unshareFlags {
		if *f.unshare[u.t] {
			if why, ok := keep[u.t]; ok {
				return fmt.Errorf("--unshare-%s and %s contradict each other", u.name, why)
			}
			add = append(add, u.t)
		}
	}
	for _, t := range add {
		if _, ok := keep[t]; !ok {
			opts.WithNamespaces(t)
		}
	}
	for t := range keep {
		opts.WithoutNamespaces(t)
	}
	if _, ok := keep[specs.UserNamespace]; ok {
		opts.UIDMappings, opts.GIDMappings = nil, nil
	}
	return nil
}

func (f *runFlags) identity(opts *sandbox.Options, oci bool) error {
	var err error
	parse := func(flag string, in []string) ([]specs.LinuxIDMapping, error) {
		var out []specs.LinuxIDMapping
		for _, s := range in {
			m, err := parseIDMap(s)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", flag, err)
			}
			out = append(out, m)
		}
		return out, nil
	}
	newUser := opts.NewNamespace(specs.UserNamespace)
	root := sandbox.RootInInitialUserNS() // host root; root of another user namespace maps its own ids
	if root && newUser && !oci && !f.hostRoot && len(f.uidMaps) == 0 && len(f.gidMaps) == 0 && (f.changed("uid") || f.changed("gid")) {
		// A root caller starting a job for a host user: that user's own
		// ids, mapped to themselves.
		uid, gid, err := hostUser(f)
		if err != nil {
			return err
		}
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: uid, HostID: uid, Size: 1}}
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: gid, HostID: gid, Size: 1}}
		opts.User.UID, opts.User.GID = uid, gid
	} else if len(f.uidMaps) > 0 {
		if opts.UIDMappings, err = parse("uid-map", f.uidMaps); err != nil {
			return err
		}
	} else if newUser && f.changed("uid") && !root {
		// Like unshare --map-user: your own uid becomes UID inside.
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: f.uid, HostID: uint32(os.Geteuid()), Size: 1}}
	} else if newUser && !oci && len(opts.UIDMappings) == 0 && !root {
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	}
	if len(f.gidMaps) > 0 {
		if opts.GIDMappings, err = parse("gid-map", f.gidMaps); err != nil {
			return err
		}
	} else if newUser && f.changed("gid") && !root {
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: f.gid, HostID: uint32(os.Getegid()), Size: 1}}
	} else if newUser && !oci && len(opts.GIDMappings) == 0 && !root {
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	}
	if f.changed("uid") {
		opts.User.UID = f.uid
	}
	if f.changed("gid") {
		opts.User.GID = f.gid
	}
	if root && !f.hostRoot && !oci {
		for _, m := range [][]specs.LinuxIDMapping{opts.UIDMappings, opts.GIDMappings} {
			if mapsHostRoot(m) {
				return errors.New("--uid-map/--gid-map: the map gives the sandbox the host's id 0, which is host root for every root-owned file, /proc/sys and /sys: add --host-root (trusted code only) if that is meant")
			}
		}
	}
	if len(f.groups) > 0 {
		g, err := parseGroups(f.groups)
		if err != nil {
			return fmt.Errorf("--groups: %w", err)
		}
		opts.User.AdditionalGids = g
	}
	return nil
}

// checkHostRoot refuses, for a root caller, what would make the sandbox's
// root the host's without --host-root: sharing the host's user namespace.
// It also refuses --host-root where it means nothing. (Root of a user
// namespace that maps host root gets sandbox.ErrHostRoot from Validate
// without --host-root.)
func (f *runFlags) checkHostRoot(opts *sandbox.Options, oci bool) error {
	hostRoot := sandbox.RootInInitialUserNS()
	if f.hostRoot && !hasHostRootID() {
		return errors.New(noHostRootToGive)
	}

	if hostRoot && !oci && !f.hostRoot && f.shareUser() {
		return errors.New("--share user: as root, without a user namespace the sandbox's uid 0 is host root; add --host-root (trusted code only) if that is meant")
	}
	return nil
}

func (f *runFlags) shareUser() bool {
	for _, s := range f.share {
		if shareNames.Value(strings.ToLower(s)) == specs.UserNamespace {
			return true
		}
	}
	return false
}

// noHostRootToGive is the refusal of --host-root for a caller none of
// whose ids is host root's.
const noHostRootToGive = "--host-root: none of your ids is host root's (only host root, root of a user namespace that maps host root to it, as `unshare -r` run by host root, or a caller whose group or supplementary groups include host gid 0 has host root's ids to give)"

// hasHostRootID reports whether one of the caller's ids is host root's:
// host root, root of a user namespace that maps host root to it, or a
// caller whose gid or supplementary groups include host root's gid (for
// whom --host-root is the opt-in to keeping it, sandbox.ErrHostRoot).
func hasHostRootID() bool {
	if sandbox.RootInInitialUserNS() {
		return true
	}
	ids := sandbox.HostRootIDs()
	if ids.UID != nil && int64(*ids.UID) == int64(os.Geteuid()) {
		return true
	}
	if ids.GID == nil {
		return false
	}
	groups, _ := os.Getgroups()
	return int64(*ids.GID) == int64(os.Getegid()) || slices.Contains(groups, int(*ids.GID))
}

// mapsHostRoot reports whether m maps some id onto host id 0.
func mapsHostRoot(m []specs.LinuxIDMapping) bool {
	for _, e := range m {
		if e.HostID == 0 && e.Size > 0 {
			return true
		}
	}
	return false
}

// hostUser returns the host uid and gid a root caller's --uid and --gid
// name; a missing --gid is the user's primary group from the user
// database.
func hostUser(f *runFlags) (uint32, uint32, error) {
	uid, gid := f.uid, f.gid
	if !f.changed("uid") {
		return 0, 0, errors.New("--gid without --uid: as root, name the host user with --uid (and its group with --gid)")
	}
	if !f.changed("gid") {
		u, err := passwd.Lookup(int(uid))
		if err != nil {
			return 0, 0, fmt.Errorf("--uid %d: no --gid, and no primary group from the user database: %w", uid, err)
		}
		g, err := strconv.ParseUint(u.GID, 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("--uid %d: primary group %q: %w", uid, u.GID, err)
		}
		gid = uint32(g)
	}
	if uid == 0 || gid == 0 {
		return 0, 0, errors.New("--uid 0 / --gid 0: as root, that is host root: add --host-root (trusted code only) if that is meant")
	}
	return uid, gid, nil
}
