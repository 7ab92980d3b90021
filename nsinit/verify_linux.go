package nsinit

import (
	"errors"
	"fmt"
	"os"
	"path"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// verify looks every mount of the list (and the default /proc) up again at
// its destination in the final root, as the sandbox will see it, and fails
// unless it finds the very mount made there (its mount id) and, for proc,
// a procfs. Whoever can write a root file system can rename a destination
// directory once its mount is made (the mount moves with the directory)
// and put a stand-in in its place; this finds it. A mount hidden by a
// later one on the same or a parent destination is not looked for; one
// whose destination leads (through a symlink in the root) to a mount made
// later is hidden by that one.
func (m *mounter) verify() error {
	root := m.root
	if m.rootfs != "" {
		r, err := openPath("/", unix.O_DIRECTORY)
		if err != nil {
			return fail("mount", "open the new root", "/", err)
		}
		defer r.Close()
		root = r
	}
	later := map[uint64]int{}
	for i, mf := range m.made {
		later[mf.id] = i
	}
	for i, mf := range m.made {
		if !mf.verify || mf.dest == "/" {
			continue
		}
		if c, _ := m.covering(mf.dest); c != mf {
			continue
		}
		if err := verifyAt(root, mf, func(id uint64) bool { j, ok := later[id]; return ok && j > i }); err != nil {
			return fail("mount", "check the "+mf.fstype+" mount at its destination", mf.dest, err)
		}
	}
	return nil
}

func verifyAt(root *os.File, mf *mountedFS, hiddenBy func(uint64) bool) error {
	h, err := pathrs.OpenatInRoot(root, mf.dest)
	if errors.Is(err, unix.ENOENT) {
		// Gone: fine only if a mount made later hides the place, which
		// the nearest ancestor that exists then lies on.
		for p := path.Dir(mf.dest); ; p = path.Dir(p) {
			a, aerr := pathrs.OpenatInRoot(root, p)
			if aerr == nil {
				id, ierr := mountID(a)
				a.Close()
				if ierr == nil && hiddenBy(id) {
					return nil
				}
				break
			}
			if p == "/" {
				break
			}
		}
		return fmt.Errorf("%w: the destination is gone (moved during setup)", unix.ENOENT)
	}
	if err != nil {
		return unwrapPath(err)
	}
	defer h.Close()
	id, err := mountID(h)
	if err != nil {
		return err
	}
	if id != mf.id && hiddenBy(id) {
		return nil
	}
	if id != mf.id {
		return fmt.Errorf("%w: mount %d is there, not the mount %d made (the destination was moved or replaced during setup)", unix.EXDEV, id, mf.id)
	}
	if mf.fstype == "proc" {
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(h.Fd()), &st); err != nil {
			return err
		}
		if st.Type != unix.PROC_SUPER_MAGIC {
			return fmt.Errorf("%w: not a procfs (file system type %#x)", unix.EXDEV, st.Type)
		}
	}
	return nil
}
