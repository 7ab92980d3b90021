package nsinit

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// idmapWait bounds the wait for the parent's id-mapped clones, which it
// sends right after the request.
const idmapWait = 30 * time.Second

// receiveIDMapped takes, when the mount list has idmap or ridmap binds,
// the detached clones the parent made and mapped through this process's
// user namespace (fork/idmapmount_linux.go): one frame on the channel,
// with the descriptors attached and their mount indexes as the payload.
// Read here, in the mount step, so that a time namespace's re-exec before
// it leaves the frame waiting on the channel.
func (m *mounter) receiveIDMapped() error {
	want := 0
	for _, mt := range m.o.Mounts {
		if mapped, _, _ := sandbox.MountIDMap(mt); mapped {
			want++
		}
	}
	if want == 0 {
		return nil
	}
	r := &ctrlRights{fd: m.cfg.Ctrl, deadline: time.Now().Add(idmapWait)}
	k, payload, err := wire.ReadFrame(r, 1<<16)
	if err == nil && k != wire.KindMounts {
		err = fmt.Errorf("%w: expected the id-mapped clones, got a %s frame", unix.EPROTO, k)
	}
	var idx []int
	if err == nil {
		idx, err = wire.DecodeIndexes(payload, wire.MaxRights)
	}
	if err == nil && (len(idx) != len(r.fds) || len(idx) != want) {
		err = fmt.Errorf("%w: %d indexes and %d descriptors for %d id-mapped binds", unix.EPROTO, len(idx), len(r.fds), want)
	}
	if err != nil {
		for _, fd := range r.fds {
			unix.Close(fd)
		}
		return fail("mount", "receive the id-mapped bind clones from the launcher", "", err)
	}
	m.idmapped = map[int]*os.File{}
	for i, fd := range r.fds {
		m.idmapped[idx[i]] = os.NewFile(uintptr(fd), "idmapped")
	}
	return nil
}

// idmappedClone hands over the parent's clone for mount i of the list.
func (m *mounter) idmappedClone(i int) *os.File {
	f := m.idmapped[i]
	delete(m.idmapped, i)
	return f
}

// ctrlRights reads the non-blocking channel to the parent with recvmsg,
// waiting in poll until deadline, and keeps every descriptor that arrives
// (close-on-exec), in order.
type ctrlRights struct {
	fd       int
	deadline time.Time
	fds      []int
}

func (r *ctrlRights) Read(p []byte) (int, error) {
	oob := wire.RightsBuffer()
	for {
		n, oobn, flags, _, err := unix.Recvmsg(r.fd, p, oob, unix.MSG_CMSG_CLOEXEC)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			left := time.Until(r.deadline)
			if left <= 0 {
				return 0, unix.ETIMEDOUT
			}
			fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
				return 0, err
			}
			continue
		default:
			return 0, err
		}
		return wire.RecvRights(p, oob, n, oobn, flags, &r.fds)
	}
}
