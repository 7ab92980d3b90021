package wire

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// MaxRights bounds the descriptors one frame may carry: the kernel's own
// limit for one SCM_RIGHTS message (SCM_MAX_FD).
const MaxRights = 253

// ParseRights returns the descriptors of the SCM_RIGHTS messages in the
// control data oob, in order.
func ParseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var out []int
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return out, fmt.Errorf("control message: %w", err)
		}
		out = append(out, fds...)
	}
	return out, nil
}

// RightsBuffer is the control buffer for one recvmsg that may carry up to
// MaxRights descriptors.
func RightsBuffer() []byte { return make([]byte, unix.CmsgSpace(4*MaxRights)) }

// RecvRights turns what a recvmsg into p returned (n bytes, oobn bytes of
// control data in oob, flags) into a Read's result, and appends the
// descriptors that came with it to *fds (the caller closes them).
func RecvRights(p, oob []byte, n, oobn, flags int, fds *[]int) (int, error) {
	if oobn > 0 {
		got, err := ParseRights(oob[:oobn])
		*fds = append(*fds, got...)
		if err != nil {
			return 0, err
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return 0, fmt.Errorf("%w: descriptors truncated (more than %d in one frame)", unix.EPROTO, MaxRights)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
