// Package wire is the parent<->child protocol of nsfork: length-prefixed
// frames on an inherited AF_UNIX stream socket, and a small hand-written
// binary encoding for the envelopes (request, results, errors) so that
// nothing but the user's own argument values goes through encoding/gob.
//
// Every length read from the other side is bounded before anything is
// allocated; a truncated or hostile stream gives an error, never a panic, a
// hang on a closed socket, or a huge allocation.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame kinds.
type Kind byte

const (
	KindRequest  Kind = 1  // parent -> child: Request
	KindReady    Kind = 2  // child -> parent: setup done, function about to run
	KindResult   Kind = 3  // child -> parent: Values (the function's results)
	KindError    Kind = 4  // child -> parent: RemoteError (function returned an error)
	KindPanic    Kind = 5  // child -> parent: Panic
	KindSetup    Kind = 6  // child -> parent: JSON of a *sandbox.SetupError
	KindApplied  Kind = 7  // child -> parent: JSON report of applied settings
	KindProtocol Kind = 8  // child -> parent: JSON of a *sandbox.SetupError: a request it could not take
	KindGo       Kind = 9  // parent -> child: the applied settings are accepted, go on
	KindStop     Kind = 10 // parent -> child: refused (payload: why), give up
	KindIdle     Kind = 11 // child -> parent: a pooled child is set up and waits for a call
	KindCall     Kind = 12 // parent -> pooled child: Request with the function and arguments
	KindMounts   Kind = 13 // parent -> child, after the request: id-mapped bind clones (SCM_RIGHTS), payload their mount indexes
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindReady:
		return "ready"
	case KindResult:
		return "result"
	case KindError:
		return "error"
	case KindPanic:
		return "panic"
	case KindSetup:
		return "setup-error"
	case KindApplied:
		return "applied"
	case KindProtocol:
		return "protocol-error"
	case KindGo:
		return "go"
	case KindStop:
		return "stop"
	case KindIdle:
		return "idle"
	case KindCall:
		return "call"
	case KindMounts:
		return "mounts"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Exit codes of a child that did not get to run its function, or whose
// function did not return normally. They are distinct from each other and
// from what a Go program exits with on its own (0, 1 for os.Exit(1), 2 for an
// unrecovered panic or a fatal signal in the runtime).
const (
	ExitOK          = 0
	ExitFuncError   = 1   // the function returned a non-nil error
	ExitPanic       = 2   // the function panicked (same as an unrecovered Go panic)
	ExitProtocol    = 121 // the request could not be read or decoded
	ExitUnknownFunc = 122 // the request names a function that is not registered
	ExitBadMarker   = 123 // marker present but no valid parent channel
	ExitParentGone  = 124 // the parent went away before the function ran
	ExitSetup       = 125 // a sandbox setup step failed
)

const headerLen = 8

var magic = [2]byte{'n', 'f'}

// MaxFrame bounds every frame read unless a smaller bound is given.
const MaxFrame = 1 << 30

// ErrFrameTooLarge is returned when a frame header announces more than the
// reader accepts.
var ErrFrameTooLarge = errors.New("nsfork/wire: frame too large")

// ErrBadMagic is returned when a frame does not start with the protocol magic.
var ErrBadMagic = errors.New("nsfork/wire: not an nsfork frame")

// WriteFrame writes one frame: 2 bytes magic, 1 byte kind, 1 byte zero, 4
// bytes little-endian payload length, payload.
func WriteFrame(w io.Writer, k Kind, payload []byte) error {
	if uint64(len(payload)) > MaxFrame {
		return ErrFrameTooLarge
	}
	buf := make([]byte, headerLen+len(payload))
	buf[0], buf[1], buf[2] = magic[0], magic[1], byte(k)
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(payload)))
	copy(buf[headerLen:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame whose payload is at most max bytes.
func ReadFrame(r io.Reader, max uint32) (Kind, []byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0] != magic[0] || h[1] != magic[1] || h[3] != 0 {
		return 0, nil, ErrBadMagic
	}
	n := binary.LittleEndian.Uint32(h[4:])
	if n > max || n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: %d bytes announced, at most %d accepted", ErrFrameTooLarge, n, max)
	}
	// Read in chunks so that a header announcing a lot of data on a stream
	// that then ends allocates only what actually arrived.
	const chunk = 1 << 20
	p := make([]byte, 0, min(int(n), chunk))
	for uint32(len(p)) < n {
		want := min(int(n)-len(p), chunk)
		if cap(p)-len(p) < want {
			np := make([]byte, len(p), min(int(n), 2*cap(p)+want))
			copy(np, p)
			p = np
		}
		m, err := io.ReadFull(r, p[len(p):len(p)+want])
		p = p[:len(p)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, fmt.Errorf("nsfork/wire: %s frame truncated after %d of %d bytes: %w", Kind(h[2]), len(p), n, err)
		}
	}
	return Kind(h[2]), p, nil
}
