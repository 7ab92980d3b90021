package nsinit

import (
	"errors"
	"fmt"
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// A time namespace takes its clock offsets only before a process enters
// it, and clone(CLONE_NEWTIME) enters it at once. With offsets the parent
// therefore leaves the time namespace out of the clone flags
// (TimeNamespaceByChild) and the child makes it itself:
// unshare(CLONE_NEWTIME) (for its future children and its next exec),
// writes the offsets, and execs itself again with the request it already
// read (Config.Stage). The second stage runs inside the new time
// namespace with the same descriptors, and its steps start over.

// TimeNamespaceByChild reports whether the child makes o's time
// namespace itself (it has clock offsets).
func TimeNamespaceByChild(o *sandbox.Options) bool {
	return o.NewNamespace(specs.TimeNamespace) && len(o.TimeOffsets) > 0
}

// stepTime enters the time namespace in the first stage; it does not
// return then unless it fails.
func stepTime(c *child) error {
	if !TimeNamespaceByChild(c.o) || c.cfg.Staged > 0 {
		return nil
	}
	if c.cfg.Stage == nil {
		return fail("time", "re-exec into the time namespace", "", errors.New("no way to stage the request"))
	}
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return fail("time", "unshare CLONE_NEWTIME", "", err)
	}
	keys := make([]string, 0, len(c.o.TimeOffsets))
	for k := range c.o.TimeOffsets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var offsets string
	for _, k := range keys {
		off := c.o.TimeOffsets[k]
		offsets += fmt.Sprintf("%s %d %d\n", k, off.Secs, off.Nanosecs)
	}
	const path = "/proc/self/timens_offsets"
	if err := os.WriteFile(path, []byte(offsets), 0); err != nil {
		return fail("time", "write offsets", path, unwrapPath(err))
	}
	env, err := c.cfg.Stage()
	if err != nil {
		return err
	}
	err = unix.Exec("/proc/self/exe", os.Args, env)
	return fail("time", "re-exec into the time namespace", "/proc/self/exe", err)
}
