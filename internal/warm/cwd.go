package warm

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// CwdKeyed reports whether a pool of o serves only callers in the working
// directory wd, its server and children started in it.
//
// A sandbox that keeps its caller's working directory (no Options.Cwd, the
// host's root as its root) gets, where a mount of its view is at wd or
// above it (a private /tmp, /var/tmp, /run, /dev/shm, a bind, /proc), the
// view's directory there or, where the view has none, the caller's own
// directory bound alone at its path: the child places it while it sets up
// its mounts (package nsinit), before any command is known. So such a pool
// is made for wd, with wd's identity in its key, and its children keep the
// directory they were made with. Anywhere else the view shows wd as the
// host has it (read-only), and a pool's child changes into it by its path
// when it takes the command, which needs the right to search it and every
// directory above it: where that is not sure (reachable), the pool is the
// directory's as well. Where the child is refused all the same, nothing
// runs and the launch runs cold (ErrRunCold).
func CwdKeyed(o *sandbox.Options, wd string) bool {
	if o.Cwd != "" || !o.NewNamespace(specs.MountNamespace) {
		return false
	}
	if o.Root != nil && path.Clean(o.Root.Path) != "/" {
		return false
	}
	if !reachable(wd) {
		return true
	}
	under := func(dest string) bool {
		d := path.Clean(dest)
		return d == "/" || wd == d || strings.HasPrefix(wd, d+"/")
	}
	if o.NewNamespace(specs.PIDNamespace) && under("/proc") {
		return true // the default /proc, or one of the list
	}
	for _, m := range o.Mounts {
		if under(m.Destination) {
			return true
		}
	}
	return false
}

// CwdContext is the identity of process pid's working directory: its path,
// mount id, device and inode. A pool keyed by the working directory
// (CwdKeyed) holds it as its own working directory while it lives, so no
// other directory can have that mount id and inode meanwhile.
func CwdContext(pid int) ([]byte, error) {
	link := "/proc/" + strconv.Itoa(pid) + "/cwd"
	wd, err := os.Readlink(link)
	if err != nil {
		return nil, fmt.Errorf("warm: caller's working directory: %w", err)
	}
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, link, unix.AT_STATX_DONT_SYNC, unix.STATX_INO|unix.STATX_MNT_ID, &st); err != nil {
		return nil, fmt.Errorf("warm: caller's working directory: statx %s: %w", link, err)
	}
	return fmt.Appendf(nil, "cwd=%q mnt=%d dev=%d:%d ino=%d\n", wd, st.Mnt_id, st.Dev_major, st.Dev_minor, st.Ino), nil
}

// callerContext is CallerContext, with CwdContext for a pool keyed by the
// working directory.
func (s *Server) callerContext(pid int) ([]byte, error) {
	ctx, err := CallerContext(pid)
	if err != nil || !s.CwdKeyed {
		return ctx, err
	}
	cwd, err := CwdContext(pid)
	if err != nil {
		return nil, err
	}
	return append(ctx, cwd...), nil
}

// commandDir is the directory a pool's child changes into for req: none
// where the pool is keyed by the working directory (the child keeps the
// one it was made with, which the caller's is: callerContext), else the
// caller's, by its path in the view.
func (s *Server) commandDir(req *Request) string {
	if s.CwdKeyed {
		return ""
	}
	return req.Dir
}

// cwdFailed reports whether err is a pool child's failure to take the
// caller's working directory, before the command ran.
func cwdFailed(err error) bool {
	var se *sandbox.SetupError
	return errors.As(err, &se) && se.Step == "cwd"
}

// reachable reports whether any process, whatever its ids, may search wd
// and every directory above it (each has the search right for others), or
// a process with the caller's own rights may (as a rootless sandbox's
// does).
func reachable(wd string) bool {
	if os.Geteuid() != 0 && unix.Faccessat(unix.AT_FDCWD, wd, unix.X_OK, unix.AT_EACCESS) == nil {
		return true
	}
	for p := wd; ; p = path.Dir(p) {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || st.Mode&0o001 == 0 {
			return false
		}
		if p == "/" {
			return true
		}
	}
}
