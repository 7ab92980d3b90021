package nsinit

import (
	"errors"
	"os"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// The working directory a sandbox keeps (no Options.Cwd, the host's root
// as its root) is the one it inherited from its caller: a directory of the
// mount tree the new mount namespace copied. A mount made here at that
// path or above it would hide the path but not the directory, which stays
// the process's working directory, and a walk up from it ("..") would
// reach what lies between it and the mount that hides it (the host's
// /tmp/a seen from /tmp/a/b under the private /tmp). So the working
// directory is placed in the view instead, before anything is mounted
// (holdCwd) and once every mount is in place (placeCwd):
//
//   - no mount made here is at the path or above it: the inherited
//     directory stays (its ancestors are the view's own);
//   - the view has a directory at the path (a --rw . or any bind there,
//     a new /proc or /dev): that one, as any path the sandbox opens;
//   - the view has nothing there (a private /tmp, /var/tmp, /run,
//     /dev/shm): the inherited directory's mount is cloned from there down,
//     with the flags it has in the view (the host root's read-only and
//     nodev), and attached at the same path, created inside the file
//     system made here; nothing above the directory comes with it.

// holdCwd opens the inherited working directory and names it, when the
// sandbox keeps it. Through /proc/self/cwd: opening "." would need search
// permission on it, which the setup's ids may lack where the command's
// have it.
func (m *mounter) holdCwd() error {
	if m.rootfs != "" || m.o.Cwd != "" {
		return nil
	}
	wd, err := unix.Getwd()
	if err == nil && !strings.HasPrefix(wd, "/") {
		err = unix.ENOENT // outside the root: "(unreachable)/..."
	}
	if err != nil {
		return fail("cwd", "getcwd (the caller's working directory; removed? give --chdir)", ".", err)
	}
	if m.cwd, err = openPath("/proc/self/cwd", unix.O_DIRECTORY); err != nil {
		return fail("cwd", "open /proc/self/cwd", wd, err)
	}
	m.cwdPath = wd
	return nil
}

// placeCwd finds or makes the working directory in the view (see above);
// the cwd step enters it (enterPlacedCwd).
func (m *mounter) placeCwd() error {
	if m.cwd == nil {
		return nil
	}
	wd := m.cwdPath
	if c, _ := m.covering(wd); c == nil {
		return nil
	}
	h, err := pathrs.OpenatInRoot(m.root, wd)
	switch {
	case err == nil:
		if err := checkKind(h, true); err != nil {
			h.Close()
			return fail("cwd", "open in the sandbox's view", wd, err)
		}
		m.a.cwd, m.a.cwdPath, m.a.cwdSame = h, wd, sameFile(h, m.cwd)
		m.report("working directory %s: the sandbox's own (mounts made here are at or above it)", wd)
		return nil
	case !errors.Is(err, unix.ENOENT):
		return fail("cwd", "open in the sandbox's view", wd, unwrapPath(err))
	}
	tree, err := cloneTree(m.cwd, true)
	if err != nil {
		return fail("cwd", "clone the caller's working directory", wd, err)
	}
	dst, err := m.target(wd, true)
	if err != nil {
		tree.Close()
		return fail("cwd", "make its mount point in the file system made here (give --chdir, or --bind it)", wd, err)
	}
	defer dst.Close()
	if err := attach(tree, dst); err != nil {
		tree.Close()
		return fail("cwd", "bind the caller's working directory at its path", wd, err)
	}
	m.a.cwd, m.a.cwdPath, m.a.cwdSame = tree, wd, true
	m.report("working directory %s: bound alone at its own path (mounts made here hide it), with the flags it has in the view", wd)
	return nil
}

// enterPlacedCwd makes the directory placeCwd found the working directory,
// under the command's ids (the cwd step). Where they may not enter it and
// it is the caller's own directory (bound alone, or --rw .), the inherited
// one stays: it is the same directory, so they can reach nothing through
// it either (every walk from it, "..", needs the search permission they
// lack).
func enterPlacedCwd(a *Applied) error {
	if a.cwd == nil {
		return nil
	}
	defer func() {
		a.cwd.Close()
		a.cwd = nil
	}()
	err := unix.Fchdir(int(a.cwd.Fd()))
	if err == unix.EACCES && a.cwdSame {
		return nil
	}
	if err != nil {
		return fail("cwd", "fchdir (the working directory placed in the view)", a.cwdPath, err)
	}
	return nil
}

// closeCwd drops the handle of the inherited working directory.
func (m *mounter) closeCwd() {
	if m.cwd != nil {
		m.cwd.Close()
		m.cwd = nil
	}
}

// sameFile reports whether a and b are the same file (device and inode).
func sameFile(a, b *os.File) bool {
	var x, y unix.Stat_t
	return unix.Fstat(int(a.Fd()), &x) == nil && unix.Fstat(int(b.Fd()), &y) == nil && x.Dev == y.Dev && x.Ino == y.Ino
}
