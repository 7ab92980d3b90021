package fork

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nsfork/nsfork/sandbox"
)

// TestPoolRefillTiming: the replacement of a child handed over starts once
// that child ended, not while it runs (its start would compete with it for
// the CPUs), unless a caller finds no child ready: then at once.
func TestPoolRefillTiming(t *testing.T) {
	defer func(a time.Duration) { refillAfter = a }(refillAfter)
	refillAfter = time.Hour // only the child's end, or a caller waiting, starts one
	var mu sync.Mutex
	starts := 0
	testHookAfterStart = func(int) { mu.Lock(); starts++; mu.Unlock() }
	defer func() { testHookAfterStart = nil }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return starts }

	pool, err := NewPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	base := count()
	// readFile blocks until the pipe's write end closes.
	block := func() (*Process, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p, err := pool.Start(context.Background(), "readFile", r)
		if err != nil {
			w.Close()
			t.Fatal(err)
		}
		return p, w
	}
	p, w := block()
	time.Sleep(300 * time.Millisecond) // before, the replacement started 2 ms after the hand-over
	if n := count() - base; n != 0 {
		w.Close()
		t.Fatalf("%d replacement(s) started while the child handed over ran", n)
	}
	w.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); count()-base < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replacement 20 s after the child handed over ended")
		}
	}

	// The replacement is taken and runs: a second caller finds none ready
	// and does not wait for that one to end.
	p, w = block()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q, err := pool.Start(ctx, "add", 1, 2)
	if err != nil {
		t.Fatalf("a caller that found no child ready: %v", err)
	}
	if err := q.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := q.Results()[0]; got != 3 {
		t.Fatalf("add(1, 2) = %v", got)
	}
	w.Close()
	p.Wait()
}
