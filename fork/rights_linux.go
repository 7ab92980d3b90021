package fork

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
)

// maxPassedFDs bounds the descriptors one pooled call may carry.
const maxPassedFDs = wire.MaxRights

// writeFrameRights writes one frame on the channel with files attached
// (SCM_RIGHTS) to its first bytes, so that they arrive with the frame: a
// pooled child, started before the call existed, gets the call's
// descriptors this way.
func writeFrameRights(ctrl *os.File, k wire.Kind, payload []byte, files []*os.File) error {
	if len(files) == 0 {
		return wire.WriteFrame(ctrl, k, payload)
	}
	var frame bytesBuffer
	if err := wire.WriteFrame(&frame, k, payload); err != nil {
		return err
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	rights := unix.UnixRights(fds...)
	rc, err := ctrl.SyscallConn()
	if err != nil {
		return err
	}
	buf := []byte(frame)
	var n int
	var serr error
	// The rights go with the first sendmsg; whatever it leaves unsent
	// follows as plain data.
	if err := rc.Write(func(fd uintptr) bool {
		n, serr = unix.SendmsgN(int(fd), buf, rights, nil, unix.MSG_NOSIGNAL)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sendmsg with %d descriptors: %w", len(fds), serr)
	}
	// The files must stay open until sendmsg took its references.
	runtime.KeepAlive(files)
	if testHookAfterSendmsg != nil {
		testHookAfterSendmsg()
	}
	if n == len(buf) {
		// All sent. No empty write after it: the child may have read the
		// whole call, run it and exited by now, and a write to a socket
		// whose peer is gone fails with EPIPE even when empty, which
		// would make the pool take a call the child ran for one it never
		// got, and hand it to a second child.
		return nil
	}
	_, err = ctrl.Write(buf[n:])
	return err
}

// testHookAfterSendmsg, when set by a test, runs between the sendmsg that
// carries the descriptors and the write of what it left unsent.
var testHookAfterSendmsg func()

// rightsReader reads the channel, which must be in blocking mode, with
// recvmsg on the calling thread (not through the poller: the sender wakes
// this thread directly) and keeps every descriptor that arrives
// (close-on-exec), in order.
type rightsReader struct {
	ctrl *os.File
	fds  []int
}

func (r *rightsReader) Read(p []byte) (int, error) {
	rc, err := r.ctrl.SyscallConn()
	if err != nil {
		return 0, err
	}
	oob := wire.RightsBuffer()
	var n, oobn, flags int
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), p, oob, unix.MSG_CMSG_CLOEXEC)
			if rerr != unix.EINTR {
				break
			}
		}
	}); err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	return wire.RecvRights(p, oob, n, oobn, flags, &r.fds)
}

// closeAll closes descriptors received but not used.
func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// mapPassed points every descriptor argument of a pooled call, which names
// its index among the passed descriptors, at the descriptor received, and
// returns the set fdValue accepts. Each index may be used once; a
// descriptor no argument names is closed, never left to the function.
func mapPassed(args []wire.Arg, fds []int) (map[int]bool, error) {
	passed := map[int]bool{}
	used := make([]bool, len(fds))
	for i := range args {
		a := &args[i]
		if a.Kind != wire.ArgFile && a.Kind != wire.ArgBytes {
			continue
		}
		idx := int(a.FD)
		if idx >= len(fds) || used[idx] {
			return nil, fmt.Errorf("argument %d names descriptor %d of %d passed", i, idx, len(fds))
		}
		used[idx] = true
		a.FD = uint32(fds[idx])
		passed[fds[idx]] = true
	}
	for i, u := range used {
		if !u {
			unix.Close(fds[i])
		}
	}
	return passed, nil
}
