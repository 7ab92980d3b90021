package warm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Request is one command for a pool.
type Request struct {
	// Options is the canonical JSON of the sandbox options (Canonical).
	Options json.RawMessage `json:"options"`
	Argv    []string        `json:"argv"`
	Env     []string        `json:"env"`
	Dir     string          `json:"dir"`
}

// Message kinds, server to client and client to server.
const (
	kindStarted = "started" // the command runs: Pid
	kindDone    = "done"    // the command ended: Code, Msg
	kindRefused = "refused" // the request was refused: Code, Msg
	kindSignal  = "signal"  // pass Signal on to the command
	kindKill    = "kill"    // kill the sandbox
	kindProve   = "prove"   // read the server's descriptor Fd through /proc (proof.go)
	kindProof   = "proof"   // what the caller read there: Proof, or why not: Msg
	// The server's proof, first on every connection: the caller asks it
	// to read the caller's descriptor Fd through /proc (kindProve, from
	// the caller); the server answers kindProof. Only then does the caller
	// send its request.
)

type message struct {
	Kind   string `json:"kind"`
	Pid    int    `json:"pid,omitempty"`
	Code   int    `json:"code,omitempty"`
	Msg    string `json:"msg,omitempty"`
	Signal int    `json:"signal,omitempty"`
	Fd     int    `json:"fd,omitempty"`
	Proof  []byte `json:"proof,omitempty"`
	// Cold, with kindDone: the command never ran, the pool's child could
	// not take the caller's working directory (ErrRunCold).
	Cold bool `json:"cold,omitempty"`
}

// maxFrame bounds a frame: argv and environment together are bounded by
// the kernel's ARG_MAX, a quarter of the stack limit.
const maxFrame = 64 << 20

// writeFrame sends v as a length-prefixed JSON frame, with files attached
// (SCM_RIGHTS) to its first byte.
func writeFrame(c *net.UnixConn, v any, files ...*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	frame = append(frame, b...)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(frame, oob, nil)
	if err != nil {
		return err
	}
	if n < len(frame) {
		_, err = c.Write(frame[n:])
	}
	return err
}

// readFrame reads a frame into v, and the descriptors attached to it
// (at most maxFiles; more is an error, and all are closed).
func readFrame(c *net.UnixConn, v any, maxFiles int) ([]*os.File, error) {
	var head [4]byte
	oob := make([]byte, unix.CmsgSpace(4*max(maxFiles, 1)))
	n, oobn, flags, _, err := c.ReadMsgUnix(head[:], oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	if oobn > 0 {
		if files, err = parseRights(oob[:oobn]); err != nil {
			return nil, err
		}
	}
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	if flags&unix.MSG_CTRUNC != 0 || len(files) > maxFiles {
		return fail(errors.New("warm: more descriptors than the frame may carry"))
	}
	if n == 0 {
		return fail(io.EOF)
	}
	if _, err := io.ReadFull(c, head[n:]); err != nil {
		return fail(err)
	}
	size := binary.BigEndian.Uint32(head[:])
	if size > maxFrame {
		return fail(fmt.Errorf("warm: frame of %d bytes, at most %d", size, maxFrame))
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(fmt.Errorf("warm: frame: %w", err))
	}
	return files, nil
}

func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("warm: control message: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "warm-passed"))
		}
	}
	return files, nil
}
