package fork_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
)

// hostileParent starts this test binary as a fork child with a valid marker
// and channel, feeds it the given bytes, closes the channel, and returns the
// child's exit code and how long it took.
func hostileParent(t *testing.T, feed []byte) (int, time.Duration) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[0]), "peer")
	childEnd := os.NewFile(uintptr(fds[1]), "child")
	cmd := exec.Command(os.Args[0], "-test.run=^TestNothing$")
	cmd.Env = append(os.Environ(), "NSFORK_CHILD=1:3:1:00112233445566778899aabbccddeeff")
	cmd.ExtraFiles = []*os.File{childEnd}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	peer.Write(feed)
	peer.Close()
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), time.Since(start)
}

var token = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

// TestHostileRequests: random bytes, every truncation of a valid request,
// a header announcing 4 GiB, deeply nested gob, wrong types: each ends the
// child quickly with the protocol exit code (121), never running anything.
func TestHostileRequests(t *testing.T) {
	valid := fork.ForgedRequest("add", token)
	cases := map[string][]byte{
		"empty":        nil,
		"random":       randomBytes(4096),
		"huge header":  {'n', 'f', 1, 0, 0xff, 0xff, 0xff, 0xff},
		"bad magic":    []byte("GET / HTTP/1.0\r\n\r\n"),
		"wrong kind":   append([]byte{'n', 'f', 3, 0}, binary.LittleEndian.AppendUint32(nil, 0)...),
		"wrong arity":  valid, // "add" needs two arguments, the forged request has none
		"wrong types":  fork.ForgedRequestArgs("add", token, [][]byte{[]byte("not gob"), nil}),
		"deep nesting": fork.ForgedRequestArgs("add", token, [][]byte{deepGob(10000), deepGob(10000)}),
	}
	for n := 0; n < len(valid); n += 3 {
		cases["truncated at "+itoa(n)] = valid[:n]
	}
	for name, feed := range cases {
		code, took := hostileParent(t, feed)
		if code != 121 {
			t.Errorf("%s: exit %d, want 121 (protocol)", name, code)
		}
		if took > 5*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(1)).Read(b)
	return b
}

// deepGob is a gob stream that opens n nested arrays.
func deepGob(n int) []byte {
	var b []byte
	for range n {
		b = append(b, 0x01, 0x02) // length 1, then more of the same
	}
	return b
}

// TestHugeResultBounded: a child that sends more than MaxResult makes the
// parent refuse and kill it, not grow.
func TestHugeResultBounded(t *testing.T) {
	c := &fork.Config{MaxResult: 1 << 20}
	p, err := c.Start(context.Background(), "echoBytes", nil, bytes.Repeat([]byte{1}, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	if !errors.Is(err, fork.ErrResultTooLarge) {
		t.Fatalf("got %v, want ErrResultTooLarge", err)
	}
}

// TestStoppedChildCancelled: a child that SIGSTOPs itself is killed and
// reaped when the context ends.
func TestStoppedChildCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	p, err := new(fork.Config).Start(ctx, "stopSelf", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait hung on a stopped child")
	}
	var ee *fork.ExitError
	if !errors.As(err, &ee) || ee.Signal() != syscall.SIGKILL {
		t.Fatalf("%v", err)
	}
}
