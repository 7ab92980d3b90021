package nsinit

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/lookup"
)

// mountOptions is an OCI mount's option list, sorted into what goes where:
// flags for a new file system's mount(2), attributes for mount_setattr(2) on
// a bind, the propagation, and the file system's own data string.
type mountOptions struct {
	bind, recursive bool
	// set and clr are MOUNT_ATTR_* bits the options ask to set or clear;
	// atime is the MOUNT_ATTR_* atime mode when atimeSet. On a bind they
	// apply to its top mount only (runc's rbind,ro: submounts keep theirs).
	set, clr uint64
	atime    uint64
	atimeSet bool
	// rec holds the recursive attributes (rro, rnosuid, ..., rnoatime),
	// applied to every mount of a bind's tree with AT_RECURSIVE before the
	// plain ones are applied to its top.
	rec attrChange
	// copyUp is tmpcopyup: the new tmpfs gets a copy of what its
	// destination held.
	copyUp bool
	// idmap is idmap or ridmap: the bind's clone comes from the launcher,
	// mapped through this user namespace (idmapmount_linux.go).
	idmap bool
	// msFlags are the MS_* flags for mount(2) of a new file system.
	msFlags uintptr
	// prop is an MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE flag, with
	// MS_REC for the r- variants; 0 leaves the propagation alone.
	prop uintptr
	data []string
}

// attrChange is a set of MOUNT_ATTR changes.
type attrChange struct {
	set, clr uint64
	atime    uint64
	atimeSet bool
}

// add applies the attribute or atime option f on top of c: a later option
// wins over an earlier one.
func (c *attrChange) add(f flagOpt, atime bool) {
	if atime {
		c.atime, c.atimeSet = f.set, true
		return
	}
	c.set = c.set&^f.clr | f.set
	c.clr = c.clr&^f.set | f.clr
}

// empty reports whether c changes nothing.
func (c attrChange) empty() bool { return c.set|c.clr == 0 && !c.atimeSet }

type flagOpt struct {
	set, clr uint64 // MOUNT_ATTR bits
	ms       uintptr
}

var attrOptions = lookup.Table[string, flagOpt]{
	{Key: "ro", Val: flagOpt{set: unix.MOUNT_ATTR_RDONLY, ms: unix.MS_RDONLY}},
	{Key: "rw", Val: flagOpt{clr: unix.MOUNT_ATTR_RDONLY}},
	{Key: "nosuid", Val: flagOpt{set: unix.MOUNT_ATTR_NOSUID, ms: unix.MS_NOSUID}},
	{Key: "suid", Val: flagOpt{clr: unix.MOUNT_ATTR_NOSUID}},
	{Key: "nodev", Val: flagOpt{set: unix.MOUNT_ATTR_NODEV, ms: unix.MS_NODEV}},
	{Key: "dev", Val: flagOpt{clr: unix.MOUNT_ATTR_NODEV}},
	{Key: "noexec", Val: flagOpt{set: unix.MOUNT_ATTR_NOEXEC, ms: unix.MS_NOEXEC}},
	{Key: "exec", Val: flagOpt{clr: unix.MOUNT_ATTR_NOEXEC}},
	{Key: "nosymfollow", Val: flagOpt{set: unix.MOUNT_ATTR_NOSYMFOLLOW, ms: unix.MS_NOSYMFOLLOW}},
	{Key: "symfollow", Val: flagOpt{clr: unix.MOUNT_ATTR_NOSYMFOLLOW}},
	{Key: "nodiratime", Val: flagOpt{set: unix.MOUNT_ATTR_NODIRATIME, ms: unix.MS_NODIRATIME}},
	{Key: "diratime", Val: flagOpt{clr: unix.MOUNT_ATTR_NODIRATIME}},
}

// atimeOptions map to the MOUNT_ATTR atime mode and the MS flag.
var atimeOptions = lookup.Table[string, flagOpt]{
	{Key: "relatime", Val: flagOpt{set: unix.MOUNT_ATTR_RELATIME, ms: unix.MS_RELATIME}},
	{Key: "noatime", Val: flagOpt{set: unix.MOUNT_ATTR_NOATIME, ms: unix.MS_NOATIME}},
	{Key: "strictatime", Val: flagOpt{set: unix.MOUNT_ATTR_STRICTATIME, ms: unix.MS_STRICTATIME}},
	// atime, norelatime and nostrictatime undo a mode: strict atime.
	{Key: "atime", Val: flagOpt{set: unix.MOUNT_ATTR_STRICTATIME, ms: unix.MS_STRICTATIME}},
	{Key: "norelatime", Val: flagOpt{set: unix.MOUNT_ATTR_STRICTATIME, ms: unix.MS_STRICTATIME}},
	{Key: "nostrictatime", Val: flagOpt{set: unix.MOUNT_ATTR_RELATIME, ms: unix.MS_RELATIME}},
}

// msOnly are options for a new file system only (no mount attribute).
var msOnly = lookup.Table[string, uintptr]{
	{Key: "sync", Val: unix.MS_SYNCHRONOUS},
	{Key: "async", Val: 0},
	{Key: "dirsync", Val: unix.MS_DIRSYNC},
	{Key: "lazytime", Val: unix.MS_LAZYTIME},
	{Key: "mand", Val: unix.MS_MANDLOCK},
	{Key: "nomand", Val: 0},
	{Key: "silent", Val: unix.MS_SILENT},
	{Key: "loud", Val: 0},
}

var propagationOptions = lookup.Table[string, uintptr]{
	{Key: "shared", Val: unix.MS_SHARED},
	{Key: "rshared", Val: unix.MS_SHARED | unix.MS_REC},
	{Key: "slave", Val: unix.MS_SLAVE},
	{Key: "rslave", Val: unix.MS_SLAVE | unix.MS_REC},
	{Key: "private", Val: unix.MS_PRIVATE},
	{Key: "rprivate", Val: unix.MS_PRIVATE | unix.MS_REC},
	{Key: "unbindable", Val: unix.MS_UNBINDABLE},
	{Key: "runbindable", Val: unix.MS_UNBINDABLE | unix.MS_REC},
}

func parseMountOptions(opts []string) (*mountOptions, error) {
	mo := &mountOptions{}
	for _, o := range opts {
		switch o {
		case "bind":
			mo.bind = true
			continue
		case "rbind":
			mo.bind, mo.recursive = true, true
			continue
		case "remount":
			return nil, fmt.Errorf("option %q is not supported in a mount list", o)
		}
		if f, ok := attrOptions.Get(o); ok {
			mo.set = mo.set&^f.clr | f.set
			mo.clr = mo.clr&^f.set | f.clr
			// "rw" after "ro" and the like: the later one wins.
			mo.msFlags = mo.msFlags&^attrMS(f.clr) | f.ms
			continue
		}
		if f, ok := atimeOptions.Get(o); ok {
			mo.atime, mo.atimeSet = f.set, true
			mo.msFlags = mo.msFlags&^(unix.MS_RELATIME|unix.MS_NOATIME|unix.MS_STRICTATIME) | f.ms
			continue
		}
		if f, ok := msOnly.Get(o); ok {
			mo.msFlags |= f
			continue
		}
		if p, ok := propagationOptions.Get(o); ok {
			mo.prop = p
			continue
		}
		if o == "tmpcopyup" {
			mo.copyUp = true
			continue
		}
		if o == "idmap" || o == "ridmap" {
			mo.idmap = true
			continue
		}
		if r, ok := strings.CutPrefix(o, "r"); ok {
			if f, ok := attrOptions.Get(r); ok {
				mo.rec.add(f, false)
				continue
			}
			if f, ok := atimeOptions.Get(r); ok {
				mo.rec.add(f, true)
				continue
			}
		}
		if o == "" || strings.ContainsRune(o, 0) {
			return nil, fmt.Errorf("empty or NUL-containing option %q", o)
		}
		mo.data = append(mo.data, o)
	}
	return mo, nil
}

// fsAttrs is the MOUNT_ATTR value of a new file system: the recursive
// attributes, then the plain ones on top (a new mount has no submounts).
func (mo *mountOptions) fsAttrs() uint64 {
	c := mo.rec
	c.add(flagOpt{set: mo.set, clr: mo.clr}, false)
	if mo.atimeSet {
		c.atime, c.atimeSet = mo.atime, true
	}
	a := c.set
	if c.atimeSet {
		a = a&^unix.MOUNT_ATTR__ATIME | c.atime
	}
	return a
}

// everywhere returns a copy of mo whose attributes reach every mount of a
// bind's tree (setup's own binds of host trees, meant read-only throughout).
func (mo *mountOptions) everywhere() *mountOptions {
	e := *mo
	e.recursive = true
	e.rec.add(flagOpt{set: mo.set, clr: mo.clr}, false)
	if mo.atimeSet {
		e.rec.atime, e.rec.atimeSet = mo.atime, true
	}
	return &e
}

// attrMS maps MOUNT_ATTR bits to the matching MS_* flags.
func attrMS(a uint64) uintptr {
	var ms uintptr
	for _, p := range attrOptions {
		if p.Val.set&a != 0 {
			ms |= p.Val.ms
		}
	}
	return ms
}

// dataString is the comma-joined data options, for mount(2).
func (mo *mountOptions) dataString() string { return strings.Join(mo.data, ",") }

// propagationAttr turns an MS_* propagation flag into mount_setattr's
// propagation value and whether it is recursive.
func propagationAttr(p uintptr) (uint64, bool) {
	return uint64(p &^ unix.MS_REC), p&unix.MS_REC != 0
}

// statfsAttrs returns the MOUNT_ATTR bits of the mount at fd, read with
// fstatfs: in a user namespace these are the flags the kernel locked on a
// mount copied from the parent namespace, which a bind must keep.
func statfsAttrs(fd int) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return 0, err
	}
	var a uint64
	for _, m := range []struct {
		st   int64
		attr uint64
	}{
		{unix.ST_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.ST_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.ST_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.ST_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.ST_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if st.Flags&m.st != 0 {
			a |= m.attr
		}
	}
	return a, nil
}

// statfsAtime returns the MOUNT_ATTR atime mode of the mount at fd.
func statfsAtime(fd int) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return 0, err
	}
	switch {
	case st.Flags&unix.ST_NOATIME != 0:
		return unix.MOUNT_ATTR_NOATIME, nil
	case st.Flags&unix.ST_RELATIME != 0:
		return unix.MOUNT_ATTR_RELATIME, nil
	}
	return unix.MOUNT_ATTR_STRICTATIME, nil
}

// attrNames names MOUNT_ATTR bits for the report.
func attrNames(a uint64) string {
	var n []string
	for _, m := range []struct {
		attr uint64
		name string
	}{
		{unix.MOUNT_ATTR_RDONLY, "ro"}, {unix.MOUNT_ATTR_NOSUID, "nosuid"},
		{unix.MOUNT_ATTR_NODEV, "nodev"}, {unix.MOUNT_ATTR_NOEXEC, "noexec"},
		{unix.MOUNT_ATTR_NODIRATIME, "nodiratime"}, {unix.MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"},
	} {
		if a&m.attr != 0 {
			n = append(n, m.name)
		}
	}
	return strings.Join(n, ",")
}
