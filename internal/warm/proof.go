package warm

import (
	"crypto/subtle"
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

// The same proof runs the other way first: before it sends anything of
// its command (argv, environment, stdio), the caller asks the listener
// to read a nonce of the caller's through /proc/CALLER/fd. A process of
// the caller's uid listening on the pool's socket path from a Landlock
// domain the caller is not in (one that may still write the pool
// directory) cannot, and gets nothing.

// challenge asks the peer on c (the caller, or the listener) for its
// proof and checks it. who names the peer in errors.
func challenge(c *net.UnixConn, who string) error {
	nonce := make([]byte, proofSize)
	// getrandom(2) with no flags blocks until the pool is initialised and
	// fills up to 256 bytes at once (crypto/rand would link math/big).
	if n, err := unix.Getrandom(nonce, 0); err != nil || n != len(nonce) {
		return fmt.Errorf("warm: proof: getrandom: %d of %d bytes: %v", n, len(nonce), err)
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
		return fmt.Errorf("warm: proof of the %s: %w", who, err)
	}
	switch {
	case m.Kind != kindProof:
		return fmt.Errorf("warm: proof of the %s: got %q", who, m.Kind)
	case subtle.ConstantTimeCompare(m.Proof, nonce) == 1:
		return nil
	case m.Msg != "":
		return fmt.Errorf("the %s cannot read its peer through /proc (%s): across a Landlock domain (or another LSM's confinement) a warm pool is neither offered nor used: its sandbox would be outside the caller's domain", who, m.Msg)
	}
	return fmt.Errorf("the %s's proof is not the nonce", who)
}

// answerProof reads the peer's challenge on c and answers it (prove).
func answerProof(c *net.UnixConn, peer int) error {
	c.SetReadDeadline(time.Now().Add(proofTimeout))
	defer c.SetReadDeadline(time.Time{})
	var m message
	if _, err := readFrame(c, &m, 0); err != nil {
		return err
	}
	if m.Kind != kindProve {
		return fmt.Errorf("expected the peer's challenge, got %q", m.Kind)
	}
	return prove(c, peer, m.Fd)
}

// prove answers a challenge: it reads the peer's descriptor fd through
// /proc/PEER/fd and sends what it read, or why it could not.
func prove(c *net.UnixConn, peer, fd int) error {
	m := message{Kind: kindProof}
	if b, err := readProof(peer, fd); err != nil {
		m.Msg = err.Error()
	} else {
		m.Proof = b
	}
	return writeFrame(c, m)
}

func readProof(peer, fd int) ([]byte, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(peer) + "/fd/" + strconv.Itoa(fd))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, proofSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading the peer's nonce: %w", err)
	}
	return b, nil
}
