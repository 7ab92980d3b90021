package nsinit

import (
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// copyUp fills the new, still detached tmpfs mfd with a copy of what its
// destination dst (a handle on the directory it will cover) holds, as the
// tmpcopyup option of runc and crun asks: directories, regular files,
// symlinks and fifos, with their owners and modes (as the sandbox sees
// them) and times. A device node or socket cannot be copied and fails the
// mount, as does what the setup may not read. Every name is opened beneath
// its parent's handle without following symlinks.
func copyUp(dst, mfd *os.File, dest string) error {
	src, err := reopenDir(dst)
	if err != nil {
		return fail("mount", "tmpcopyup: open", dest, err)
	}
	defer src.Close()
	to, err := reopenDir(mfd)
	if err != nil {
		return fail("mount", "tmpcopyup: open the new tmpfs for", dest, err)
	}
	defer to.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fail("mount", "tmpcopyup: stat", dest, err)
	}
	if err := copyTree(src, to, dest); err != nil {
		return err
	}
	return copyMeta(int(to.Fd()), "", &st, dest)
}

func reopenDir(h *os.File) (*os.File, error) {
	fd, err := unix.Openat(int(h.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), h.Name()), nil
}

// copyTree copies the entries of the directory src into to.
func copyTree(src, to *os.File, p string) error {
	names, err := src.Readdirnames(-1)
	if err != nil {
		return fail("mount", "tmpcopyup: read directory", p, err)
	}
	sfd, tfd := int(src.Fd()), int(to.Fd())
	for _, n := range names {
		q := path.Join(p, n)
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("mount", "tmpcopyup: stat", q, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := unix.Mkdirat(tfd, n, 0o700); err != nil {
				return fail("mount", "tmpcopyup: mkdir", q, err)
			}
			err = copySubdir(sfd, tfd, n, q)
		case unix.S_IFREG:
			err = copyFile(sfd, tfd, n, q)
		case unix.S_IFLNK:
			err = copyLink(sfd, tfd, n, q)
		case unix.S_IFIFO:
			if err = unix.Mknodat(tfd, n, unix.S_IFIFO|0o600, 0); err != nil {
				err = fail("mount", "tmpcopyup: mkfifo", q, err)
			}
		default:
			return fail("mount", "tmpcopyup: a device node or socket is not copied:", q, unix.EINVAL)
		}
		if err != nil {
			return err
		}
		if err := copyMeta(tfd, n, &st, q); err != nil {
			return err
		}
	}
	return nil
}

func copySubdir(sfd, tfd int, n, q string) error {
	s, err := unix.Openat(sfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("mount", "tmpcopyup: open", q, err)
	}
	sf := os.NewFile(uintptr(s), q)
	defer sf.Close()
	t, err := unix.Openat(tfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("mount", "tmpcopyup: open the copy of", q, err)
	}
	tf := os.NewFile(uintptr(t), q)
	defer tf.Close()
	return copyTree(sf, tf, q)
}

func copyFile(sfd, tfd int, n, q string) error {
	// Non-blocking, and checked once open: whoever owns the destination
	// may have swapped the file for a fifo (whose open would wait for a
	// writer forever) or a device node since fstatat saw it.
	s, err := unix.Openat(sfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("mount", "tmpcopyup: open", q, err)
	}
	sf := os.NewFile(uintptr(s), q)
	defer sf.Close()
	var st unix.Stat_t
	if err := unix.Fstat(s, &st); err != nil {
		return fail("mount", "tmpcopyup: stat", q, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fail("mount", "tmpcopyup: no longer a regular file (replaced meanwhile):", q, unix.EINVAL)
	}
	if _, err := unix.FcntlInt(uintptr(s), unix.F_SETFL, unix.O_RDONLY); err != nil {
		return fail("mount", "tmpcopyup: fcntl", q, err)
	}
	t, err := unix.Openat(tfd, n, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fail("mount", "tmpcopyup: create the copy of", q, err)
	}
	tf := os.NewFile(uintptr(t), q)
	defer tf.Close()
	if _, err := io.Copy(tf, sf); err != nil {
		return fail("mount", "tmpcopyup: copy", q, err)
	}
	return nil
}

func copyLink(sfd, tfd int, n, q string) error {
	buf := make([]byte, unix.PathMax)
	k, err := unix.Readlinkat(sfd, n, buf)
	if err != nil {
		return fail("mount", "tmpcopyup: readlink", q, err)
	}
	if err := unix.Symlinkat(string(buf[:k]), tfd, n); err != nil {
		return fail("mount", "tmpcopyup: symlink", q, err)
	}
	return nil
}

// copyMeta gives the copy n in dir (dir itself for "") the owner, mode and
// times of st. The owner first: chown clears set-id bits.
func copyMeta(dir int, n string, st *unix.Stat_t, q string) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if n == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if err := unix.Fchownat(dir, n, int(st.Uid), int(st.Gid), flags); err != nil {
		return fail("mount", fmt.Sprintf("tmpcopyup: chown to %d:%d the copy of", st.Uid, st.Gid), q, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		var err error
		if n == "" {
			err = unix.Fchmod(dir, uint32(st.Mode&0o7777))
		} else {
			err = unix.Fchmodat(dir, n, uint32(st.Mode&0o7777), 0)
		}
		if err != nil {
			return fail("mount", "tmpcopyup: chmod the copy of", q, err)
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if n == "" {
		n = "."
	}
	if err := unix.UtimesNanoAt(dir, n, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail("mount", "tmpcopyup: set the times of the copy of", q, err)
	}
	return nil
}
