package fork

import (
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
