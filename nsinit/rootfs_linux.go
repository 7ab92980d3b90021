package nsinit

import (
	"golang.org/x/sys/unix"
)

// forceMoveChroot makes enterRoot take the MS_MOVE + chroot path as if
// pivot_root had failed with EINVAL. Only this package's tests set it.
var forceMoveChroot bool

// enterRoot makes the root file system (bound onto itself, with every mount
// in place) the process's root, for every thread: Go makes its threads
// with CLONE_FS, so they share one root and working directory.
//
// pivot_root(".", ".") stacks the old root on top of the new one at the
// same place; it is made rslave (so that detaching it cannot propagate to
// the host) and detached, and nothing of the host stays reachable. Where
// the current root is an initramfs, pivot_root fails with EINVAL; then the
// root file system is moved onto / and chrooted into, as switch_root does,
// and the report says "move+chroot".
func (m *mounter) enterRoot() error {
	if err := unix.Fchdir(int(m.root.Fd())); err != nil {
		return fail("rootfs", "chdir", m.rootfs, err)
	}
	var err error = unix.EINVAL
	if !forceMoveChroot {
		err = unix.PivotRoot(".", ".")
	}
	switch {
	case err == nil:
		if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fail("rootfs", "make the old root rslave", "/", err)
		}
		if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
			return fail("rootfs", "detach the old root", "/", err)
		}
		m.a.Root = "pivot_root"
	case err == unix.EINVAL:
		if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
			return fail("rootfs", "move the root file system onto / (pivot_root refused: initramfs root)", m.rootfs, err)
		}
		if err := unix.Chroot("."); err != nil {
			return fail("rootfs", "chroot", m.rootfs, err)
		}
		m.a.Root = "move+chroot"
	default:
		return fail("rootfs", "pivot_root", m.rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fail("rootfs", "chdir", "/", err)
	}
	if m.o.Root.Readonly {
		if err := rootReadonly(); err != nil {
			return err
		}
		m.report("root read-only")
	}
	if p := m.o.RootfsPropagation; p != "" && p != "rslave" {
		flags, _ := propagationFlags(p)
		if err := unix.Mount("", "/", "", flags, ""); err != nil {
			return fail("rootfs", "make / "+p, "/", err)
		}
	}
	return nil
}

// rootReadonly makes the root mount itself read-only; the mounts on it keep
// their own flags (OCI root.readonly).
func rootReadonly() error {
	err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if err == unix.ENOSYS {
		// Before mount_setattr: a remount keeping the flags the kernel
		// may have locked.
		fd, oerr := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
		if oerr != nil {
			return fail("rootfs", "open", "/", oerr)
		}
		locked, serr := statfsAttrs(fd)
		unix.Close(fd)
		if serr != nil {
			return fail("rootfs", "statfs", "/", serr)
		}
		err = unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|attrMS(locked), "")
	}
	if err != nil {
		return fail("rootfs", "make the root read-only", "/", err)
	}
	return nil
}
