package warm

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The caller's proof that the pool's server is not outside its Landlock
// domain.
//
// A process in a Landlock domain may not ptrace, nor read through
// /proc/PID what ptrace's read mode guards (fd links, environ, mem), any
// process outside its domain: the kernel checks this for every domain,
// whatever access rights it handles (Landlock's ptrace restriction, ABI
// 1). So the server asks each caller to open one of its descriptors
// through /proc/SERVER/fd/N, a memory file holding a fresh random nonce,
// and to send back what it read. A caller in a domain the server is not in
// cannot open it, and its request is refused: it would otherwise get a
// sandbox outside its domain. The other way round, the server reads the
// caller's /proc/PID/environ (scopeOf), which the kernel refuses a server
// in a domain the caller is not in. Both succeed only when caller and
// server are in the same domain, or neither is in one.

// proofSize is the nonce's length.
const proofSize = 32

// proofTimeout bounds the wait for the caller's answer.
const proofTimeout = 10 * time.Second

// challenge asks the caller on c for its proof and checks it.
func challenge(c *net.UnixConn) error {
	nonce := make([]byte, proofSize)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("warm: proof: random: %w", err)
	}
	fd, err := unix.MemfdCreate("nsfork-warm-proof", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("warm: proof: memfd_create: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, nonce, 0); err != nil {
		return fmt.Errorf("warm: proof: write: %w", err)
	}
	if err := writeFrame(c, message{Kind: kindProve, Fd: fd}); err != nil {
		return fmt.Errorf("warm: proof: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(proofTimeout))
	defer c.SetReadDeadline(time.Time{})
	var m message
	if _, err := readFrame(c, &m, 0); err != nil {
		return fmt.Errorf("warm: proof: %w", err)
	}
	switch {
	case m.Kind != kindProof:
		return fmt.Errorf("warm: proof: got %q", m.Kind)
	case subtle.ConstantTimeCompare(m.Proof, nonce) == 1:
		return nil
	case m.Msg != "":
		return fmt.Errorf("the caller cannot read this pool's server through /proc (%s): a caller in a Landlock domain (or confined by another LSM) that the server is not in gets no warm sandbox, which would be outside its domain", m.Msg)
	}
	return errors.New("the caller's proof is not the server's nonce")
}

// prove answers a server's challenge: it reads the server's descriptor fd
// through /proc/SERVER/fd and sends what it read, or why it could not.
func prove(c *net.UnixConn, server, fd int) error {
	m := message{Kind: kindProof}
	if b, err := readProof(server, fd); err != nil {
		m.Msg = err.Error()
	} else {
		m.Proof = b
	}
	return writeFrame(c, m)
}

func readProof(server, fd int) ([]byte, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(server) + "/fd/" + strconv.Itoa(fd))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, proofSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading the server's nonce: %w", err)
	}
	return b, nil
}
