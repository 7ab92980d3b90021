package sandbox

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/lookup"
)

// MountOptionKind says how nsfork applies an option of an OCI mount.
type MountOptionKind int

const (
	// MountOptionData is an option nsfork does not know by name: the file
	// system's own data (size=, mode=, uid=, newinstance, ...), handed to
	// a new file system, which refuses what it does not know. A bind reads
	// no data, so a bind refuses it.
	MountOptionData MountOptionKind = iota
	// MountOptionBind is bind or rbind.
	MountOptionBind
	// MountOptionAttr is a per-mount flag (ro, rw, nosuid, suid, nodev,
	// dev, noexec, exec, nosymfollow, symfollow, nodiratime, diratime),
	// applied to a new file system and to a bind; with rbind to the top
	// mount only, as runc does (the r- forms reach every mount).
	MountOptionAttr
	// MountOptionAtime is an atime mode (relatime, noatime, strictatime,
	// atime, norelatime, nostrictatime), applied to a new file system and
	// to a bind outside a new user namespace; in one, the kernel locks a
	// bind's atime mode to its source's, so nsfork refuses it there.
	MountOptionAtime
	// MountOptionSuperblock is a flag of a new file system (sync, dirsync,
	// lazytime, mand): a bind shares its source's file system and cannot
	// set it.
	MountOptionSuperblock
	// MountOptionNoop asks for what is the default anyway (async, nomand,
	// loud, silent) and changes nothing.
	MountOptionNoop
	// MountOptionPropagation is shared, slave, private, unbindable and
	// their recursive r- forms.
	MountOptionPropagation
	// MountOptionUnsupported is an option the runtime-spec (or runc or
	// crun) defines that nsfork does not apply: a mount naming one is
	// refused, never made without it.
	MountOptionUnsupported
	// MountOptionRecursive is a recursive mount attribute (rro, rnosuid,
	// ..., rnoatime): the attribute applied to the mount and every mount
	// beneath it (mount_setattr with AT_RECURSIVE), where the plain option
	// on a bind sets the top mount only, as runc does. The atime ones
	// follow MountOptionAtime's rule.
	MountOptionRecursive
	// MountOptionCopyUp is tmpcopyup: a tmpfs that starts with a copy of
	// what its destination held (owners, modes and times kept). Only on a
	// tmpfs.
	MountOptionCopyUp
	// MountOptionIDMap is idmap or ridmap: a bind in a new user namespace
	// whose files' owners are mapped through that namespace
	// (mount_setattr MOUNT_ATTR_IDMAP, made by the launcher, which must be
	// root in the initial user namespace); ridmap maps every mount of an
	// rbind's tree, idmap its top mount only, as runc does.
	MountOptionIDMap
)

// mountOptionKinds are the options nsfork knows by name, besides
// RecursiveMountOptions. nsinit applies exactly these; the two lists must
// change together.
var mountOptionKinds = lookup.Table[string, MountOptionKind]{
	{Key: "bind", Val: MountOptionBind}, {Key: "rbind", Val: MountOptionBind},

	{Key: "ro", Val: MountOptionAttr}, {Key: "rw", Val: MountOptionAttr},
	{Key: "nosuid", Val: MountOptionAttr}, {Key: "suid", Val: MountOptionAttr},
	{Key: "nodev", Val: MountOptionAttr}, {Key: "dev", Val: MountOptionAttr},
	{Key: "noexec", Val: MountOptionAttr}, {Key: "exec", Val: MountOptionAttr},
	{Key: "nosymfollow", Val: MountOptionAttr}, {Key: "symfollow", Val: MountOptionAttr},
	{Key: "nodiratime", Val: MountOptionAttr}, {Key: "diratime", Val: MountOptionAttr},

	{Key: "relatime", Val: MountOptionAtime}, {Key: "noatime", Val: MountOptionAtime}, {Key: "strictatime", Val: MountOptionAtime},
	{Key: "atime", Val: MountOptionAtime}, {Key: "norelatime", Val: MountOptionAtime}, {Key: "nostrictatime", Val: MountOptionAtime},

	{Key: "sync", Val: MountOptionSuperblock}, {Key: "dirsync", Val: MountOptionSuperblock},
	{Key: "lazytime", Val: MountOptionSuperblock}, {Key: "mand", Val: MountOptionSuperblock},

	{Key: "async", Val: MountOptionNoop}, {Key: "nomand", Val: MountOptionNoop}, {Key: "loud", Val: MountOptionNoop}, {Key: "silent", Val: MountOptionNoop},

	{Key: "shared", Val: MountOptionPropagation}, {Key: "rshared", Val: MountOptionPropagation},
	{Key: "slave", Val: MountOptionPropagation}, {Key: "rslave", Val: MountOptionPropagation},
	{Key: "private", Val: MountOptionPropagation}, {Key: "rprivate", Val: MountOptionPropagation},
	{Key: "unbindable", Val: MountOptionPropagation}, {Key: "runbindable", Val: MountOptionPropagation},

	{Key: "tmpcopyup", Val: MountOptionCopyUp},

	{Key: "idmap", Val: MountOptionIDMap}, {Key: "ridmap", Val: MountOptionIDMap},
}

// mountIDMapsWhy says why a mount's own uidMappings/gidMappings are refused:
// nsfork maps an idmap bind through the sandbox's own user namespace only.
const mountIDMapsWhy = "a mount's own id mappings are not supported: an idmap or ridmap bind is mapped through the sandbox's user namespace (linux.uidMappings/gidMappings)"

// unsupportedMountOptions are the options of the runtime-spec (and of runc
// and crun) that nsfork does not apply, with the reason.
var unsupportedMountOptions = lookup.Table[string, string]{
	{Key: "remount", Val: "a remount is not a mount; list the options on the mount itself"},
	{Key: "defaults", Val: "is not applied by name; list the options meant"},
	{Key: "iversion", Val: "is not supported"},
	{Key: "noiversion", Val: "is not supported"},
	{Key: "nolazytime", Val: "is not supported"},
	{Key: "copy-symlink", Val: "is a crun extension nsfork does not implement"},
	{Key: "src-nofollow", Val: "is a crun extension nsfork does not implement"},
	{Key: "dest-nofollow", Val: "is a crun extension nsfork does not implement"},
}

// RecursiveMountOptions are the runtime-spec's recursive mount attributes:
// "r" and an attribute or atime option, applied to every mount of the tree.
var RecursiveMountOptions = []string{
	"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
	"rnosymfollow", "rsymfollow", "rnodiratime", "rdiratime",
	"ratime", "rnoatime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
}

// MountIDMap reports whether mount m asks to be id-mapped (idmap or
// ridmap), whether the mapping reaches every mount of its tree (ridmap),
// and whether the tree itself is recursive (rbind): the launcher clones
// and maps it, the child attaches it.
func MountIDMap(m specs.Mount) (mapped, recursiveMap, rbind bool) {
	for _, o := range m.Options {
		switch o {
		case "idmap":
			mapped = true
		case "ridmap":
			mapped, recursiveMap = true, true
		case "rbind":
			rbind = true
		}
	}
	return mapped, recursiveMap, rbind
}

// MountOptionNames lists, sorted, the mount options nsfork applies by name
// (an option it does not know is a new file system's data).
func MountOptionNames() []string {
	names := append(mountOptionKinds.Keys(), RecursiveMountOptions...)
	slices.Sort(names)
	return names
}

// MountOption returns how nsfork applies the OCI mount option opt.
func MountOption(opt string) MountOptionKind {
	if k, ok := mountOptionKinds.Get(opt); ok {
		return k
	}
	if slices.Contains(RecursiveMountOptions, opt) {
		return MountOptionRecursive
	}
	if _, ok := unsupportedMountOptions.Get(opt); ok {
		return MountOptionUnsupported
	}
	return MountOptionData
}

// MountOptionSupported reports whether nsfork applies the option opt, as
// written, to a bind mount (bind) or to a new file system (!bind), in or
// out of a new user namespace (userns); if not, it says why. An option it
// does not know by name is a new file system's data, which the kernel
// checks, and it is refused on a bind, which would never read it.
func MountOptionSupported(opt string, bind, userns bool) (bool, string) {
	if opt == "" || strings.ContainsRune(opt, 0) {
		return false, "is empty or holds a NUL byte"
	}
	switch MountOption(opt) {
	case MountOptionUnsupported:
		return false, unsupportedMountOptions.Value(opt)
	case MountOptionSuperblock:
		if bind {
			return false, "is a flag of the file system, which a bind shares with its source and cannot set"
		}
	case MountOptionAtime:
		if bind && userns {
			return false, "a bind in a new user namespace keeps its source's atime mode (the kernel locks it)"
		}
	case MountOptionRecursive:
		if bind && userns && MountOption(opt[1:]) == MountOptionAtime {
			return false, "a bind in a new user namespace keeps its source's atime modes (the kernel locks them)"
		}
	case MountOptionCopyUp:
		if bind {
			return false, "is an option of a tmpfs, not of a bind"
		}
	case MountOptionIDMap:
		if !bind {
			return false, "is an option of a bind, not of a new file system"
		}
		if !userns {
			return false, "maps owners through the sandbox's user namespace: it needs a new user namespace"
		}
	case MountOptionData:
		if bind {
			return false, "unknown option: a bind reads no file-system data, so it would be ignored"
		}
	}
	return true, ""
}

// validateMountOptions refuses the options of mount m (field f) that nsfork
// would not apply as written.
func validateMountOptions(errs *errList, f string, bind, userns bool, opts []string) {
	for _, opt := range opts {
		if ok, why := MountOptionSupported(opt, bind, userns); !ok {
			if MountOption(opt) == MountOptionUnsupported {
				errs.unsupported(f+".options", opt, why)
			} else {
				errs.add(f+".options", opt, why)
			}
		}
	}
}

// String names the kind.
func (k MountOptionKind) String() string {
	switch k {
	case MountOptionData:
		return "data"
	case MountOptionBind:
		return "bind"
	case MountOptionAttr:
		return "attribute"
	case MountOptionAtime:
		return "atime"
	case MountOptionSuperblock:
		return "superblock"
	case MountOptionNoop:
		return "noop"
	case MountOptionPropagation:
		return "propagation"
	case MountOptionUnsupported:
		return "unsupported"
	case MountOptionRecursive:
		return "recursive attribute"
	case MountOptionCopyUp:
		return "copy-up"
	case MountOptionIDMap:
		return "id-mapped"
	}
	return fmt.Sprintf("MountOptionKind(%d)", int(k))
}
