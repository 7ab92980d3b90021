package fork

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The source of an id-mapped bind is resolved here, by the launcher (root),
// not by the sandbox as a plain bind's is, and what the sandbox's root
// writes through the mapped clone is host uid 0's. A symbolic link on the
// way belongs to whoever made it: one a user made in a directory of
// theirs on the source's path would send root's clone wherever the link
// points (a directory only root may enter, /etc), which the sandbox's own
// ids could never reach. So the path is walked one name at a time, and a
// link is followed only where root or the caller owns it, and not on a
// FUSE file system (a user's FUSE server, mounted with allow_other, says
// which owner its links have).

// sourceLinkError is a symbolic link on an id-mapped source's path that
// neither root nor the caller owns.
type sourceLinkError struct {
	link  string
	owner uint32
	fuse  bool
}

func (e *sourceLinkError) Error() string {
	if e.fuse {
		return fmt.Sprintf("the symbolic link %s on the source's path is on a FUSE file system, whose server (a user's, maybe) says who owns it: the launcher (root) does not follow it; give the path it leads to", e.link)
	}
	return fmt.Sprintf("the symbolic link %s on the source's path belongs to uid %d, not to root or the caller: the launcher (root) does not follow it; give the path it leads to", e.link, e.owner)
}

func (e *sourceLinkError) Unwrap() error { return unix.ELOOP }

// openSource opens path (O_PATH) for open_tree, following only the
// symbolic links root or the caller owns, at most 40 as the kernel does.
func openSource(path string) (int, error) {
	if !strings.HasPrefix(path, "/") {
		return -1, fmt.Errorf("not an absolute path: %w", unix.EINVAL)
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	rest := strings.Split(path, "/")
	walked := ""
	for links := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil {
			unix.Close(next)
			unix.Close(fd)
			return -1, err
		}
		here := walked + "/" + name
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			unix.Close(fd)
			fd, walked = next, here
			continue
		}
		target, err := readLinkFD(next)
		fuse := onFUSE(next)
		unix.Close(next)
		switch {
		case err != nil:
		case fuse || st.Uid != 0 && int64(st.Uid) != int64(os.Geteuid()):
			err = &sourceLinkError{link: here, owner: st.Uid, fuse: fuse}
		case links == 40:
			err = unix.ELOOP
		}
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		links++
		if strings.HasPrefix(target, "/") {
			root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				unix.Close(fd)
				return -1, err
			}
			unix.Close(fd)
			fd, walked = root, ""
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return fd, nil
}

// onFUSE reports whether fd is on a FUSE file system (or cannot tell).
func onFUSE(fd int) bool {
	var fs unix.Statfs_t
	return unix.Fstatfs(fd, &fs) != nil || fs.Type == unix.FUSE_SUPER_MAGIC
}

// readLinkFD reads the target of the symbolic link fd (opened O_PATH).
func readLinkFD(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	if n == len(buf) {
		return "", errors.New("symbolic link target too long")
	}
	return string(buf[:n]), nil
}
