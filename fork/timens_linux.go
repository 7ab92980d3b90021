package fork

import (
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/forkchild"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// The time namespace's parent half. With clock offsets the parent leaves
// the time namespace out of the clone flags (planIsolation,
// nsinit.TimeNamespaceByChild) and the child makes it itself, then execs
// itself again (nsinit/timens_linux.go). What is fork's here is the
// protocol: the request the first stage read goes to the second in a
// sealed memfd, named in the marker; the arguments are taken in the
// second stage, so their descriptors (pipes of big ones, files) stay
// unread and open across the re-exec.

// stageRequest keeps the request frame payload for the second stage and
// returns the environment of its exec.
func stageRequest(m forkchild.Marker, payload []byte) ([]string, error) {
	var frame bytesBuffer
	wire.WriteFrame(&frame, wire.KindRequest, payload)
	blob, err := sealedBlob(frame)
	if err != nil {
		return nil, sandbox.NewSetupError("time", "memfd for the request", "", err)
	}
	fd := int(blob.Fd())
	// Keep it across the exec, outside the range of passed descriptors.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return nil, sandbox.NewSetupError("time", "fcntl", "", err)
	}
	// The control channel was made close-on-exec for the function's sake;
	// this exec must keep it.
	if _, err := unix.FcntlInt(uintptr(m.FD), unix.F_SETFD, 0); err != nil {
		return nil, sandbox.NewSetupError("time", "fcntl", "", err)
	}
	return append(os.Environ(), markerEnv+"="+forkchild.Marker{FD: m.FD, NFDs: m.NFDs, Token: m.Token, Staged: fd}.String()), nil
}

// readStagedRequest reads the request frame a first stage left in fd.
func readStagedRequest(fd int) (wire.Kind, []byte, error) {
	f := os.NewFile(uintptr(fd), "nsfork-request")
	defer f.Close()
	// From the start: the first stage's write left the offset at the end.
	return wire.ReadFrame(io.NewSectionReader(f, 0, maxRequest+16), maxRequest)
}
