package nsinit

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
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

// threadFields are the per-thread credentials every thread must share
// once Setup has changed them through psx.
var threadFields = []string{"Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"}

// stepThreadsCheck, in a cgo build, checks that every thread of the
// process has this thread's credentials, capability sets and
// no_new_privs. libpsx finds the threads to change by listing
// /proc/<pid>/task by path; a stand-in listing fewer threads would leave
// some unchanged, so the result is checked here through a procfs
// descriptor, and any difference fails the setup. (Without cgo psx is the
// kernel's AllThreadsSyscall, which needs no /proc.)
//
// In command mode the bounding set is dropped on the exec'ing thread only
// (Config.Exec), so it is not compared there.
func stepThreadsCheck(_ *sandbox.Options, cfg Config, _ *Applied) error {
	if !cgoBuild {
		return nil
	}
	fields := threadFields
	if cfg.Exec {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == "CapBnd" })
	}
	return checkThreads("/proc/self/task", fields)
}

func checkThreads(taskDir string, fields []string) error {
	self, err := readProcStatus(nil, "/proc/thread-self/status")
	if err != nil {
		return fail("capabilities", "read this thread's status", "/proc/thread-self/status", err)
	}
	dir, err := openProc(taskDir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fail("capabilities", "open the thread list", taskDir, err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fail("capabilities", "list threads", taskDir, err)
	}
	for _, n := range names {
		if _, err := strconv.Atoi(n); err != nil {
			continue
		}
		st, err := readProcStatus(dir, n+"/status")
		if err != nil {
			continue // the thread is gone
		}
		for _, f := range fields {
			if st[f] != self[f] {
				return fail("capabilities", "check every thread", taskDir+"/"+n, fmt.Errorf("%w: thread %s has %s %q, this thread %q (a thread psx did not reach)", unix.EPERM, n, f, st[f], self[f]))
			}
		}
	}
	return nil
}
