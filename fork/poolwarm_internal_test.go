package fork

import (
	"io"
	"os"
	"reflect"
	"runtime"
	"testing"
)

// The pooled child's warm-up goes the whole way through the codec and the
// reflect call (a change of either that broke it would only show as
// slower calls), and runs no registered function.
func TestWarmCallPath(t *testing.T) {
	if err := warmCallPath(); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup("nsfork:warm"); ok {
		t.Fatal("the warm-up's name is a registered function")
	}
}

// Types of the layout tests' own, so that no call before the test has laid
// out a frame of theirs.
type (
	warmArgA [3]int64
	warmArgB [3]int64
)

// warmLayouts prepares every registered function's type (variadic, with
// descriptors, interfaces) without running a function, and at most max.
func TestWarmLayoutsRunsNothing(t *testing.T) {
	ran := false
	RegisterFunc("test.warm.variadic", func(string, ...any) error { ran = true; return nil })
	RegisterFunc("test.warm.file", func(*os.File, io.Reader, map[string]int) (int, error) { ran = true; return 0, nil })
	n := warmLayouts(1 << 20)
	if ran {
		t.Fatal("warmLayouts ran a registered function")
	}
	types := map[reflect.Type]bool{}
	regMu.RLock()
	for _, f := range registry {
		types[f.fn.Type()] = true
	}
	regMu.RUnlock()
	if n != len(types) {
		t.Fatalf("warmLayouts prepared %d types, the registry has %d", n, len(types))
	}
	if n := warmLayouts(2); n != 2 {
		t.Fatalf("warmLayouts(2) prepared %d types", n)
	}
}

// A call of a type warmLayouts prepared allocates less the first time than
// one of a type it never saw: reflect reused the frame layout (fails when
// warmLayouts lays out nothing).
func TestWarmLayoutsSavesFirstCall(t *testing.T) {
	fa := func(warmArgA, int64) (warmArgA, error) { return warmArgA{}, nil }
	fb := func(warmArgB, int64) (warmArgB, error) { return warmArgB{}, nil }
	RegisterFunc("test.warm.layout", fa)
	warmLayouts(1 << 20)
	first := func(fn any) uint64 {
		v := reflect.ValueOf(fn)
		in := []reflect.Value{reflect.Zero(v.Type().In(0)), reflect.ValueOf(int64(1))}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v.Call(in)
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	a, b := first(fa), first(fb)
	if a >= b {
		t.Fatalf("first call of a prepared type: %d allocations, of an unprepared one: %d", a, b)
	}
	t.Logf("first call: %d allocations prepared, %d not", a, b)
}
