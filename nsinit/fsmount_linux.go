package nsinit

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// This file holds the descriptor-based mount primitives every mount of
// stepMounts goes through: a new file system is made detached with
// fsopen/fsconfig/fsmount, a bind is a detached open_tree clone, and either
// is attached with move_mount onto an opened destination handle. No step
// names a path the kernel resolves again later, so nothing in a root file
// system someone else can write can be swapped between check and use.

// mountedFS is a mount this setup attached (or a mask or read-only bind it
// made), with a handle on the mount's root: later mounts, masks and
// read-only paths beneath dest are resolved from that handle, never again
// from the root by path.
type mountedFS struct {
	dest   string
	fd     *os.File // the mount's root (the fsmount or open_tree descriptor, attached)
	id     uint64   // its mount id
	fstype string   // "bind" for a bind
	// prop is the propagation the mount list asked for (0: none), set
	// once the root is final (propagateAll).
	prop uintptr
	// verify: a mount of the list (or the default /proc); checked at its
	// destination once the root is final.
	verify bool
}

var errNoMountAPI = fmt.Errorf("%w: the mount API (fsopen, fsmount, open_tree, move_mount: Linux 5.2; mount_setattr: 5.12) is needed", ErrUnsupported)

// newFS makes a new, detached mount of fstype with fsopen, fsconfig and
// fsmount. Data options become fsconfig keys ("key=value" a string, a bare
// word a flag); the per-mount flags become fsmount attributes.
func newFS(fstype, source string, mo *mountOptions) (*os.File, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if errors.Is(err, unix.ENOSYS) {
		return nil, errNoMountAPI
	}
	if err != nil {
		return nil, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", source); err != nil {
			return nil, fmt.Errorf("fsconfig source=%s: %w%s", source, err, fsLog(fsfd))
		}
	}
	for _, d := range mo.data {
		k, v, ok := strings.Cut(d, "=")
		if ok {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return nil, fmt.Errorf("fsconfig %s: %w%s", d, err, fsLog(fsfd))
		}
	}
	// Superblock flags mount(2) took as MS_* flags.
	for _, f := range []struct {
		ms   uintptr
		name string
	}{{unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_DIRSYNC, "dirsync"}, {unix.MS_LAZYTIME, "lazytime"}, {unix.MS_MANDLOCK, "mand"}} {
		if mo.msFlags&f.ms != 0 {
			if err := unix.FsconfigSetFlag(fsfd, f.name); err != nil {
				return nil, fmt.Errorf("fsconfig %s: %w%s", f.name, err, fsLog(fsfd))
			}
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("fsconfig create: %w%s", err, fsLog(fsfd))
	}
	attr := mo.fsAttrs()
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attr))
	if err != nil {
		return nil, fmt.Errorf("fsmount %s: %w%s", attrNames(attr), err, fsLog(fsfd))
	}
	return os.NewFile(uintptr(mfd), fstype), nil
}

// fsLog returns the file system's own error message, if it left one.
func fsLog(fsfd int) string {
	buf := make([]byte, 256)
	n, err := unix.Read(fsfd, buf)
	if err != nil || n <= 2 {
		return ""
	}
	return " (" + strings.TrimSpace(string(buf[2:n])) + ")"
}

// cloneTree makes a detached copy of the mount at src (its whole subtree
// with recursive), as a bind mount does before it attaches.
func cloneTree(src *os.File, recursive bool) (*os.File, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(int(src.Fd()), "", uint(flags))
	if errors.Is(err, unix.ENOSYS) {
		return nil, errNoMountAPI
	}
	if err != nil {
		return nil, fmt.Errorf("open_tree: %w", err)
	}
	return os.NewFile(uintptr(fd), src.Name()), nil
}

// attach moves the detached mount tree onto the opened destination dst.
// The tree's descriptor then names the attached mount.
func attach(tree, dst *os.File) error {
	if err := unix.MoveMount(int(tree.Fd()), "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// mountID returns the id of the mount fd is on.
func mountID(fd *os.File) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(fd.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &st); err != nil {
		return 0, fmt.Errorf("statx: %w", err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("%w: statx gives no mount id (Linux 5.8)", ErrUnsupported)
	}
	return st.Mnt_id, nil
}

// openBeneath opens rel beneath the directory handle dir without leaving
// it: no "..", no symlinks (magic links included) and no mount crossing.
// rel "" or "." is dir itself.
func openBeneath(dir *os.File, rel string) (*os.File, error) {
	if rel == "" || rel == "." {
		fd, err := unix.FcntlInt(dir.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), dir.Name()), nil
	}
	fd, err := unix.Openat2(int(dir.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if errors.Is(err, unix.ENOSYS) {
		return nil, fmt.Errorf("%w: openat2 (Linux 5.6) is needed to resolve paths beneath a mount", ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dir.Name()+"/"+rel), nil
}

// track records a mount made at dest whose root is fd (taking fd over).
func (m *mounter) track(dest, fstype string, fd *os.File, verify bool) error {
	id, err := mountID(fd)
	if err != nil {
		fd.Close()
		return fail("mount", "mount id of the new "+fstype+" mount", dest, err)
	}
	m.made = append(m.made, &mountedFS{dest: dest, fd: fd, id: id, fstype: fstype, verify: verify})
	return nil
}

// covering returns the mount this setup made that is visible at p (the
// last one made whose destination is p or a parent of p) and p relative to
// its root, or nil when p lies in the root itself.
func (m *mounter) covering(p string) (*mountedFS, string) {
	for i := len(m.made) - 1; i >= 0; i-- {
		d := m.made[i].dest
		switch {
		case p == d:
			return m.made[i], "."
		case d == "/":
			return m.made[i], strings.TrimPrefix(p, "/")
		case strings.HasPrefix(p, d+"/"):
			return m.made[i], p[len(d)+1:]
		}
	}
	return nil, p
}
