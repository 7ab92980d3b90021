package fork

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
)

// TestMapPassed: a pooled call may name each passed descriptor once and
// only those passed; anything else is refused before the function runs.
func TestMapPassed(t *testing.T) {
	args := []wire.Arg{{Kind: wire.ArgGob}, {Kind: wire.ArgFile, FD: 1}, {Kind: wire.ArgBytes, FD: 0}}
	passed, err := mapPassed(args, []int{40, 41})
	if err != nil {
		t.Fatal(err)
	}
	if args[1].FD != 41 || args[2].FD != 40 || !passed[40] || !passed[41] || len(passed) != 2 {
		t.Fatalf("mapped %+v, passed %v", args, passed)
	}
	// A descriptor no argument names is closed.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	if _, err := mapPassed([]wire.Arg{{Kind: wire.ArgGob}}, []int{p[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("an unnamed descriptor was left open (F_GETFD: %v)", err)
	}
	for _, bad := range [][]wire.Arg{
		{{Kind: wire.ArgFile, FD: 2}},                               // not passed
		{{Kind: wire.ArgFile, FD: 0}, {Kind: wire.ArgBytes, FD: 0}}, // used twice
	} {
		if _, err := mapPassed(bad, []int{40, 41}); err == nil {
			t.Errorf("mapPassed(%+v) accepted", bad)
		}
	}
}

// TestWriteFrameRightsPeerDoneAfterSend: a call sent whole by the sendmsg
// that carries its descriptors is sent, even if the child has read it,
// run it and closed its end before writeFrameRights returns. Reporting
// EPIPE there made the pool hand the call to a second child, which ran
// the function again (on a pipe the first had drained: the flake of
// TestPoolPassesDescriptors under load).
func TestWriteFrameRightsPeerDoneAfterSend(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := os.NewFile(uintptr(fds[0]), "ctrl")
	defer ctrl.Close()
	peer := os.NewFile(uintptr(fds[1]), "peer")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var got []int
	var frame []byte
	testHookAfterSendmsg = func() {
		// The child's side: read the frame and its descriptors, go away.
		rr := &rightsReader{ctrl: peer}
		k, payload, err := wire.ReadFrame(rr, 1<<20)
		if err != nil || k != wire.KindCall {
			t.Errorf("peer read %v %v", k, err)
		}
		frame, got = payload, rr.fds
		peer.Close()
	}
	defer func() { testHookAfterSendmsg = nil }()
	if err := writeFrameRights(ctrl, wire.KindCall, []byte("call"), []*os.File{r}); err != nil {
		t.Fatalf("a call the peer received whole: %v", err)
	}
	if string(frame) != "call" || len(got) != 1 {
		t.Fatalf("peer got %q and %d descriptors", frame, len(got))
	}
	closeAll(got)
	// Control: with the peer gone before the send, the error is reported.
	if err := writeFrameRights(ctrl, wire.KindCall, []byte("call"), []*os.File{r}); err == nil {
		t.Fatal("a send to a closed peer succeeded")
	}
}
