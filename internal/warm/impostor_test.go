//go:build linux

package warm

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientWithholdsRequestFromImpostor: a process of the caller's uid
// listening on a pool's socket path (one in a Landlock domain that may
// still write the pool directory, say) is not a pool's server. The client
// asks the listener first to read a nonce of its own through
// /proc/CLIENT/fd, which the kernel refuses a process in a Landlock domain
// the client is not in (TestProof shows the kernel's refusal); a listener
// that cannot gets nothing of the command: no argv, no environment, no
// stdio. The listener here answers as such a process does.
func TestClientWithholdsRequestFromImpostor(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "pool.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type seen struct {
		first message
		files int
		more  []byte
		err   error
	}
	got := make(chan seen, 1)
	go func() {
		var s seen
		defer func() { got <- s }()
		c, err := ln.AcceptUnix()
		if err != nil {
			s.err = err
			return
		}
		defer c.Close()
		files, err := readFrame(c, &s.first, 3)
		s.files = len(files)
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			s.err = err
			return
		}
		// What a process in another Landlock domain answers: it could not
		// open /proc/CLIENT/fd/N.
		if err := writeFrame(c, message{Kind: kindProof, Msg: "open /proc/1/fd/3: permission denied"}); err != nil {
			s.err = err
			return
		}
		// Anything the client still sends.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		s.more = buf[:n]
	}()
	conn, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Start(&Request{Argv: []string{"true"}, Env: []string{"SECRET_TOKEN=caller-only"}}, os.Stdin, os.Stdout, os.Stderr)
	conn.Close()
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "Landlock") {
		t.Errorf("Start against a listener that could not prove itself: %v, want a refusal naming Landlock", err)
	}
	s := <-got
	if s.err != nil {
		t.Fatalf("listener: %v", s.err)
	}
	if s.first.Kind != kindProve || s.files != 0 {
		t.Errorf("the client's first frame: %+v with %d descriptors, want its challenge alone", s.first, s.files)
	}
	if len(s.more) > 0 || strings.Contains(string(s.more), "SECRET_TOKEN") {
		t.Errorf("after the failed proof the listener received %q", s.more)
	}
}
