package fork

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsfork/nsfork/sandbox"
)

// childrenOf lists the live (not zombie) processes whose parent is pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// Callers that find no child ready each ask for the replacements at once:
// the pool still starts exactly one child per child handed over (never
// more idle ones than its size), hands each child one call, and a Close
// while callers wait for refills ends them with ErrPoolClosed and leaves no
// process of the pool behind.
func TestPoolCallersFindingNoneReady(t *testing.T) {
	var mu sync.Mutex
	starts := 0
	testHookAfterStart = func(int) { mu.Lock(); starts++; mu.Unlock() }
	defer func() { testHookAfterStart = nil }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return starts }

	const size, callers = 2, 8
	pool, err := NewPool(sandbox.Default(), size)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	pids := make(chan int, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p, err := pool.Start(ctx, "add", i, 1)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			pids <- p.Pid
			if err := p.Wait(); err != nil || p.Results()[0] != i+1 {
				t.Errorf("caller %d: %v, %v", i, p.Results(), err)
			}
		}(i)
	}
	wg.Wait()
	close(pids)
	seen := map[int]bool{}
	for pid := range pids {
		if seen[pid] {
			t.Errorf("child %d was handed two calls", pid)
		}
		seen[pid] = true
	}
	for deadline := time.Now().Add(30 * time.Second); len(PoolIdlePids(pool)) < size; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle children 30 s after the calls, want %d", len(PoolIdlePids(pool)), size)
		}
	}
	time.Sleep(300 * time.Millisecond) // past refillAfter: a surplus start would show
	if n, want := count(), size+callers; n != want {
		t.Errorf("%d children started for %d calls on a pool of %d, want %d", n, callers, size, want)
	}
	if n := len(PoolIdlePids(pool)); n != size {
		t.Errorf("%d idle children, want %d", n, size)
	}

	// Close while callers wait for children that are being started.
	var closedErrs sync.WaitGroup
	for i := 0; i < callers; i++ {
		closedErrs.Add(1)
		go func() {
			defer closedErrs.Done()
			p, err := pool.Start(context.Background(), "sleep", time.Hour)
			if err == nil {
				p.Kill()
				p.Wait()
				return
			}
			if !errors.Is(err, ErrPoolClosed) {
				t.Errorf("a caller waiting as the pool closed: %v", err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	pool.Close()
	closedErrs.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := childrenOf(os.Getpid())
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the closed pool left: %v", left)
		}
	}
}
