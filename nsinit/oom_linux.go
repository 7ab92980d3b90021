package nsinit

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepOOM writes the oom score adjustment.
func stepOOM(o *sandbox.Options, _ Config, _ *Applied) error {
	if o.OOMScoreAdj == nil {
		return nil
	}
	// The file is checked to be on a procfs before it is written: in a
	// root file system another user can write, /proc may be a stand-in by
	// now (the mount moves with a renamed directory), and a write there
	// would be lost silently.
	p := "/proc/self/oom_score_adj"
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("oom", "open", p, err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fail("oom", "fstatfs", p, err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fail("oom", "check", p, fmt.Errorf("%w: not on a procfs (file system type %#x): /proc was replaced", unix.EXDEV, st.Type))
	}
	if _, err := unix.Write(fd, []byte(strconv.Itoa(*o.OOMScoreAdj))); err != nil {
		return fail("oom", "write", p, err)
	}
	return nil
}
