package nsinit

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// After the mounts, /proc is a path in the sandbox's root, and in a root
// file system another user can write that user can rename the directory
// the proc mount sits on and put a stand-in in its place at any moment
// (the mount moves with the directory). Whatever nsinit reads from /proc
// after that is read through a descriptor checked to be on a procfs:
// every procfs in the sandbox's mount namespace is one it made (or the
// host's, which is as trustworthy), never the stand-in's fake files.

// openProc opens p (flags plus O_CLOEXEC) and fails unless it is on a
// procfs.
func openProc(p string, flags int) (*os.File, error) {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s is not on a procfs (file system type %#x): /proc was replaced", unix.EXDEV, p, st.Type)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// readProcStatus reads the status file name beneath the procfs directory
// dir (nil: name is a path, checked with openProc).
func readProcStatus(dir *os.File, name string) (map[string]string, error) {
	var f *os.File
	if dir == nil {
		var err error
		if f, err = openProc(name, unix.O_RDONLY); err != nil {
			return nil, err
		}
	} else {
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f = os.NewFile(uintptr(fd), name)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(buf.String(), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}
