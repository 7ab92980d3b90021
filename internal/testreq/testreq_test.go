package testreq

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	ended string // "fatal", "skip" or "" (went on)
	out   []string
}

func (r *recorder) Helper() {}
func (r *recorder) Logf(f string, a ...any) {
	r.out = append(r.out, fmt.Sprintf(f, a...))
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.ended = "fatal"
	r.Logf(f, a...)
	runtime.Goexit()
}
func (r *recorder) Skip(a ...any) {
	r.ended = "skip"
	r.out = append(r.out, fmt.Sprint(a...))
	runtime.Goexit()
}

// call runs f on a recorder in a goroutine of its own, as the testing
// package runs a test, so that Fatalf and Skip end only f.
func call(f func(t testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestNeedStrictFailsElseSkips(t *testing.T) {
	for _, strict := range []string{"1", ""} {
		t.Setenv("NSFORK_REQUIRE_ALL", strict)
		r := call(func(t testing.TB) { Need(t, true, "present") })
		if r.ended != "" {
			t.Fatalf("Need(ok) ended the test: %s %v", r.ended, r.out)
		}
		r = call(func(t testing.TB) { Need(t, false, "tool %s", "x (package y)") })
		want := "skip"
		if strict == "1" {
			want = "fatal"
		}
		if r.ended != want || len(r.out) != 1 || !strings.Contains(r.out[0], "tool x (package y)") {
			t.Fatalf("NSFORK_REQUIRE_ALL=%q: Need(missing) ended %q with %q, want %s naming what is missing", strict, r.ended, r.out, want)
		}
	}
}

func TestKernelLacksReportsInBothModes(t *testing.T) {
	for _, strict := range []string{"1", ""} {
		t.Setenv("NSFORK_REQUIRE_ALL", strict)
		r := call(func(t testing.TB) {
			KernelLacks(t, "feature F", "the kernel said E", "TestOther")
		})
		if r.ended != "" || len(r.out) != 1 {
			t.Fatalf("NSFORK_REQUIRE_ALL=%q: KernelLacks ended %q with %q, want one report and the test going on", strict, r.ended, r.out)
		}
		for _, s := range []string{"kernel lacks feature F", "the kernel said E", "TestOther"} {
			if !strings.Contains(r.out[0], s) {
				t.Errorf("report %q does not say %q", r.out[0], s)
			}
		}
		for _, bad := range [][2]string{{"", "TestOther"}, {"the kernel said E", ""}} {
			r := call(func(t testing.TB) { KernelLacks(t, "feature F", bad[0], bad[1]) })
			if r.ended != "fatal" {
				t.Errorf("KernelLacks(evidence %q, covered by %q) ended %q, want a failure", bad[0], bad[1], r.ended)
			}
		}
	}
}
