package fork

import (
	"context"
	"testing"
	"time"

	"github.com/nsfork/nsfork/sandbox"
)

// A pool hands a call to the child that waited least, and keeps the others
// in their order (fails with a first-in first-out pool: the oldest child
// is handed out).
func TestPoolHandsNewestChild(t *testing.T) {
	const size = 3
	pool, err := NewPool(sandbox.Default(), size)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for deadline := time.Now().Add(30 * time.Second); len(PoolIdlePids(pool)) < size; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle children after 30 s, want %d", len(PoolIdlePids(pool)), size)
		}
	}
	idle := PoolIdlePids(pool) // newest first
	if again := PoolIdlePids(pool); len(again) != size || again[0] != idle[0] || again[size-1] != idle[size-1] {
		t.Fatalf("listing the idle children changed their order: %v, then %v", idle, again)
	}
	// Two calls back to back, before a replacement can be idle.
	var ps []*Process
	for range 2 {
		p, err := pool.Start(context.Background(), "nsfork:pool-test-noop")
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if p.Pid != idle[i] {
			t.Fatalf("call %d went to child %d, want the newest idle one, %d (idle, newest first: %v)", i, p.Pid, idle[i], idle)
		}
	}
}

func init() { RegisterFunc("nsfork:pool-test-noop", func() {}) }
