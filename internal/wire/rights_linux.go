package wire

import (
	"fmt"

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
