package sandbox

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// mountOptionKinds are the options nsfork knows by name. nsinit applies
// exactly these; the two lists must change together.
var mountOptionKinds = map[string]MountOptionKind{
	"bind": MountOptionBind, "rbind": MountOptionBind,

	"ro": MountOptionAttr, "rw": MountOptionAttr,
	"nosuid": MountOptionAttr, "suid": MountOptionAttr,
	"nodev": MountOptionAttr, "dev": MountOptionAttr,
	"noexec": MountOptionAttr, "exec": MountOptionAttr,
	"nosymfollow": MountOptionAttr, "symfollow": MountOptionAttr,
	"nodiratime": MountOptionAttr, "diratime": MountOptionAttr,

	"relatime": MountOptionAtime, "noatime": MountOptionAtime, "strictatime": MountOptionAtime,
	"atime": MountOptionAtime, "norelatime": MountOptionAtime, "nostrictatime": MountOptionAtime,

	"sync": MountOptionSuperblock, "dirsync": MountOptionSuperblock,
	"lazytime": MountOptionSuperblock, "mand": MountOptionSuperblock,

	"async": MountOptionNoop, "nomand": MountOptionNoop, "loud": MountOptionNoop, "silent": MountOptionNoop,

	"shared": MountOptionPropagation, "rshared": MountOptionPropagation,
	"slave": MountOptionPropagation, "rslave": MountOptionPropagation,
	"private": MountOptionPropagation, "rprivate": MountOptionPropagation,
	"unbindable": MountOptionPropagation, "runbindable": MountOptionPropagation,

	"tmpcopyup": MountOptionCopyUp,

	"idmap": MountOptionIDMap, "ridmap": MountOptionIDMap,
}

// mountIDMapsWhy says why a mount's own uidMappings/gidMappings are refused:
// nsfork maps an idmap bind through the sandbox's own user namespace only.
const mountIDMapsWhy = "a mount's own id mappings are not supported: an idmap or ridmap bind is mapped through the sandbox's user namespace (linux.uidMappings/gidMappings)"

// unsupportedMountOptions are the options of the runtime-spec (and of runc
// and crun) that nsfork does not apply, with the reason.
var unsupportedMountOptions = map[string]string{
	"remount":       "a remount is not a mount; list the options on the mount itself",
	"defaults":      "is not applied by name; list the options meant",
	"iversion":      "is not supported",
	"noiversion":    "is not supported",
	"nolazytime":    "is not supported",
	"copy-symlink":  "is a crun extension nsfork does not implement",
	"src-nofollow":  "is a crun extension nsfork does not implement",
	"dest-nofollow": "is a crun extension nsfork does not implement",
}

// RecursiveMountOptions are the runtime-spec's recursive mount attributes:
// "r" and an attribute or atime option, applied to every mount of the tree.
var RecursiveMountOptions = []string{
	"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
	"rnosymfollow", "rsymfollow", "rnodiratime", "rdiratime",
	"ratime", "rnoatime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
}

func init() {
	for _, o := range RecursiveMountOptions {
		mountOptionKinds[o] = MountOptionRecursive
	}
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
	names := make([]string, 0, len(mountOptionKinds))
	for n := range mountOptionKinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// MountOption returns how nsfork applies the OCI mount option opt.
func MountOption(opt string) MountOptionKind {
	if k, ok := mountOptionKinds[opt]; ok {
		return k
	}
	if _, ok := unsupportedMountOptions[opt]; ok {
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
		return false, unsupportedMountOptions[opt]
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
