package fork_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func alivePid(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	return err == nil && !bytesContainsState(b, 'Z')
}

func bytesContainsState(b []byte, st byte) bool {
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] == st
		}
	}
	return false
}

// TestPoolServesEachCallOnce: results are right, every call gets a child
// of its own, and the pool refills.
func TestPoolServesEachCallOnce(t *testing.T) {
	pool, err := fork.NewPool(sandbox.Default(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	seen := map[int]bool{}
	for i := range 20 {
		p, err := pool.Start(context.Background(), "add", i, 1)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.Pid] {
			t.Fatalf("pid %d served twice", p.Pid)
		}
		seen[p.Pid] = true
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := p.Results()[0]; got != i+1 {
			t.Fatalf("add(%d,1) = %v", i, got)
		}
		if alivePid(p.Pid) {
			t.Fatalf("pid %d alive after its call", p.Pid)
		}
	}
}

// TestPoolReplacesDeadChildren: a child killed while it waits is never
// handed out.
func TestPoolReplacesDeadChildren(t *testing.T) {
	pool, err := fork.NewPool(sandbox.Default(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	time.Sleep(200 * time.Millisecond) // let it fill
	idle := fork.PoolIdlePids(pool)
	if len(idle) == 0 {
		t.Fatal("no idle child")
	}
	dead := map[int]bool{}
	for _, pid := range idle {
		syscall.Kill(pid, syscall.SIGKILL)
		dead[pid] = true
	}
	time.Sleep(50 * time.Millisecond)
	for range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel() // cancelling kills the started child, like ForkIsolatedContext
		p, err := pool.Start(ctx, "add", 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if dead[p.Pid] {
			t.Fatalf("dead child %d handed out", p.Pid)
		}
		if err := p.Wait(); err != nil || p.Results()[0] != 2 {
			t.Fatalf("%v %v", err, p.Results())
		}
	}
}

// TestPoolCloseLeavesNothing: Close kills and reaps the idle children;
// Start afterwards fails; descriptors are refused.
func TestPoolCloseLeavesNothing(t *testing.T) {
	pool, err := fork.NewPool(sandbox.Default(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Start(context.Background(), "add", "one", 1); !errors.Is(err, fork.ErrArgs) {
		t.Fatalf("wrong argument type: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	idle := fork.PoolIdlePids(pool)
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range idle {
		if alivePid(pid) {
			t.Errorf("idle child %d alive after Close", pid)
		}
	}
	if _, err := pool.Start(context.Background(), "add", 1, 1); !errors.Is(err, fork.ErrPoolClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// TestPoolBadOptions: a configuration that cannot start is an error from
// NewPool, not a pool that never fills.
func TestPoolBadOptions(t *testing.T) {
	opts := sandbox.Default()
	opts.Cwd = "/nonexistent/nsfork"
	if _, err := fork.NewPool(opts, 1); err == nil {
		t.Fatal("NewPool with an impossible cwd succeeded")
	}
}

// TestPoolPassesDescriptors: a pooled child, started before the call
// existed, gets the call's *os.File and large []byte arguments with it
// (SCM_RIGHTS): the file is read through, the bytes arrive whole, and
// neither the caller nor the child keeps a descriptor it should not.
func TestPoolPassesDescriptors(t *testing.T) {
	// The runtime's poller (an epoll and an eventfd, kept for the
	// process's life) starts with the first pipe: start it before
	// counting, as when this test runs first.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := len(listFDs())
	pool, err := fork.NewPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.WriteString("through the pool"); w.Close() }()
	p, err := pool.Start(context.Background(), "readFile", r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := p.Results()[0]; got != "through the pool" {
		t.Fatalf("readFile through a pooled child: %q", got)
	}

	big := make([]byte, 3<<20+17) // over the inline limit: a sealed memfd
	for i := range big {
		big[i] = byte(i * 7)
	}
	p, err = pool.Start(context.Background(), "digest", big)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if sum, n := p.Results()[0].([32]byte), p.Results()[1].(int); sum != sha256.Sum256(big) || n != len(big) {
		t.Fatalf("digest of %d bytes through a pooled child: %d bytes, digest differs: %v", len(big), n, sum != sha256.Sum256(big))
	}

	// The child sees its channel, stdio and nothing the call did not bring.
	p, err = pool.Start(context.Background(), "fds")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, fd := range p.Results()[0].([]string) {
		stdio := strings.HasPrefix(fd, "0->") || strings.HasPrefix(fd, "1->") || strings.HasPrefix(fd, "2->")
		if strings.Contains(fd, "memfd:") || (strings.Contains(fd, "pipe:") && !stdio) {
			t.Errorf("pooled child holds %s, left from an earlier call or the pool", fd)
		}
	}
	// Counted once the pool is closed: its refills hold descriptors of
	// their own while they start.
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if after := len(listFDs()); after > before {
		t.Errorf("caller holds %d descriptors after the calls and Close, %d before the pool", after, before)
	}
}

// TestPoolCall: Call returns results, the function's error and a panic as
// Wait would, returns before the child is reaped, and Close leaves no
// child of the caller behind, reaped or not.
func TestPoolCall(t *testing.T) {
	pool, err := fork.NewPool(sandbox.Default(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		res, err := pool.Call(context.Background(), "add", i, 2)
		if err != nil || len(res) != 1 || res[0] != i+2 {
			t.Fatalf("Call(add, %d, 2) = %v, %v", i, res, err)
		}
	}
	_, err = pool.Call(context.Background(), "fail", "no good")
	var re *fork.RemoteError
	if !errors.As(err, &re) || re.Msg != "no good" {
		t.Fatalf("Call(fail) = %v, want a *RemoteError", err)
	}
	_, err = pool.Call(context.Background(), "boom")
	var pe *fork.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Call(boom) = %v, want a *PanicError", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := pool.Call(ctx, "sleep", time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call(sleep) past its deadline = %v", err)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if kids := childrenOfSelf(); len(kids) != 0 {
		t.Fatalf("children left after Close: %v", kids)
	}
}

// childrenOfSelf lists this process's children, zombies included.
func childrenOfSelf() []string {
	var out []string
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

// TestPoolCloseDuringCall: Close does not wait for a Call whose function is
// still running, and that call's child is reaped once it ends.
func TestPoolCloseDuringCall(t *testing.T) {
	pool, err := fork.NewPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	type result struct {
		res []any
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := pool.Call(context.Background(), "readFile", r)
		got <- result{res, err}
	}()
	// The call is in the child once the child read what the pipe holds
	// (readFile reads to the end: it blocks until w is closed); TIOCINQ
	// (FIONREAD) counts the bytes left in the pipe.
	w.WriteString("in flight")
	for n := 1; n > 0; {
		if n, err = unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- pool.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close waited for a call whose function still runs")
	}
	w.Close()
	if c := <-got; c.err != nil || len(c.res) != 1 || c.res[0] != "in flight" {
		t.Fatalf("Call(readFile) across Close = %v, %v", c.res, c.err)
	}
	for range 200 {
		if len(childrenOfSelf()) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("children left after the call ended: %v", childrenOfSelf())
}
