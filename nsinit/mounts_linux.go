package nsinit

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

var propagationFlags = map[string]uintptr{
	"":          unix.MS_SLAVE | unix.MS_REC,
	"slave":     unix.MS_SLAVE,
	"rslave":    unix.MS_SLAVE | unix.MS_REC,
	"private":   unix.MS_PRIVATE,
	"rprivate":  unix.MS_PRIVATE | unix.MS_REC,
	"shared":    unix.MS_SHARED,
	"rshared":   unix.MS_SHARED | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// stepMounts: in a new mount namespace, stop mount events from flowing back
// to the host, then give a new pid namespace its own /proc.
func stepMounts(o *sandbox.Options, _ Config, a *Applied) error {
	if !o.NewNamespace(specs.MountNamespace) {
		return nil
	}
	flags, ok := propagationFlags[o.RootfsPropagation]
	if !ok {
		return fail("mount", "rootfsPropagation", o.RootfsPropagation, unix.EINVAL)
	}
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return fail("mount", "make / "+propagationName(o.RootfsPropagation), "/", err)
	}
	if o.Root != nil || len(o.Mounts) > 0 || len(o.MaskedPaths) > 0 || len(o.ReadonlyPaths) > 0 {
		return unsupported("mount", "root, mounts, maskedPaths and readonlyPaths (filesystem isolation is not built yet)")
	}
	if o.NewNamespace(specs.PIDNamespace) {
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fail("mount", "mount proc", "/proc", err)
		}
		a.Mounts = append(a.Mounts, "proc on /proc")
	}
	return nil
}

func propagationName(p string) string {
	if p == "" {
		return "rslave"
	}
	return p
}
