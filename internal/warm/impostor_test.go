//go:build linux

package warm

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
)

// TestClientWithholdsRequestFromImpostor: a process of the caller's uid
// that listens on a pool's socket path (one in a Landlock domain that may
// still write the pool directory, say) is not a pool's server. The client
// checks only the listener's uid before it sends its request, so such a
// listener receives the command's argv and environment and the caller's
// stdin, stdout and stderr; the caller's proof only follows (the server's
// challenge). A client that made the server prove itself first (read a
// nonce of the client's through /proc/CLIENT/fd, which the kernel
// refuses a process in a Landlock domain the client is not in) would send
// nothing to it. Kept as a reproduction (opt-in; it fails today).
func TestClientWithholdsRequestFromImpostor(t *testing.T) {
	testreq.OptIn(t, "NSFORK_REDTEAM_KNOWN", "known gap: the warm client sends its request before the listener proved to be a server")
	sock := filepath.Join(t.TempDir(), "pool.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan Request, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		var req Request
		files, _ := readFrame(c, &req, 3)
		for _, f := range files {
			f.Close()
		}
		got <- req
	}()
	conn, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.c.Close()
	conn.Start(&Request{Argv: []string{"true"}, Env: []string{"SECRET_TOKEN=caller-only"}}, os.Stdin, os.Stdout, os.Stderr)
	if req := <-got; len(req.Env) > 0 {
		t.Errorf("a listener that never proved to be a pool's server received the request: env %q, argv %q, with the caller's stdio", req.Env, req.Argv)
	}
}
