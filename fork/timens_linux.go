package fork

import (
	"fmt"
	"io"
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// A time namespace takes its clock offsets only before a process enters it,
// and clone(CLONE_NEWTIME) enters it at once. With offsets the child
// therefore makes the namespace itself: unshare(CLONE_NEWTIME) (for its
// future children and its next exec), writes the offsets, and execs itself
// again with the request it already read in a sealed memfd. The second
// stage runs inside the new time namespace with the same descriptors.

func wantsTimeOffsets(o *sandbox.Options) bool {
	return o.NewNamespace(specs.TimeNamespace) && len(o.TimeOffsets) > 0
}

// enterTimeNamespace does not return on success.
func enterTimeNamespace(o *sandbox.Options, m marker, frame []byte) error {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return &nsinit.Error{Step: "time", Op: "unshare CLONE_NEWTIME", Err: err}
	}
	keys := make([]string, 0, len(o.TimeOffsets))
	for k := range o.TimeOffsets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var offsets string
	for _, k := range keys {
		off := o.TimeOffsets[k]
		offsets += fmt.Sprintf("%s %d %d\n", k, off.Secs, off.Nanosecs)
	}
	const path = "/proc/self/timens_offsets"
	if err := os.WriteFile(path, []byte(offsets), 0); err != nil {
		return &nsinit.Error{Step: "time", Op: "write offsets", Path: path, Err: unwrapPathErr(err)}
	}
	blob, err := sealedBlob(frame)
	if err != nil {
		return &nsinit.Error{Step: "time", Op: "memfd for the request", Err: err}
	}
	fd := int(blob.Fd())
	// Keep it across the exec, outside the range of passed descriptors.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return &nsinit.Error{Step: "time", Op: "fcntl", Err: err}
	}
	// The control channel was made close-on-exec for the function's sake;
	// this exec must keep it.
	if _, err := unix.FcntlInt(uintptr(m.fd), unix.F_SETFD, 0); err != nil {
		return &nsinit.Error{Step: "time", Op: "fcntl", Err: err}
	}
	env := append(os.Environ(), fmt.Sprintf("%s=1:%d:%d:%x:%d", markerEnv, m.fd, m.nfds, m.token, fd))
	err = unix.Exec("/proc/self/exe", os.Args, env)
	return &nsinit.Error{Step: "time", Op: "re-exec into the time namespace", Path: "/proc/self/exe", Err: err}
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// readStagedRequest reads the request frame a first stage left in fd.
func readStagedRequest(fd int) (wire.Kind, []byte, error) {
	f := os.NewFile(uintptr(fd), "nsfork-request")
	defer f.Close()
	// From the start: the first stage's write left the offset at the end.
	return wire.ReadFrame(io.NewSectionReader(f, 0, maxRequest+16), maxRequest)
}
