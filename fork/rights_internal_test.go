package fork

import (
	"testing"

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
	for _, bad := range [][]wire.Arg{
		{{Kind: wire.ArgFile, FD: 2}},                               // not passed
		{{Kind: wire.ArgFile, FD: 0}, {Kind: wire.ArgBytes, FD: 0}}, // used twice
	} {
		if _, err := mapPassed(bad, []int{40, 41}); err == nil {
			t.Errorf("mapPassed(%+v) accepted", bad)
		}
	}
}
