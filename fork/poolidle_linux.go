package fork

import "sync"

// idleSet holds a pool's idle children, the newest on top: a call takes
// the child that waited least. On a machine where a process that sat idle
// wakes slowly (this project's VM: a pooled call 0.49-0.52 ms at p50 to a
// child idle about 100 ms, 0.66-0.87 ms to one idle 400 ms, the oldest of a
// pool of 4 called every 100 ms; docs/speed.md), the oldest child is the
// slowest to hand a call to, and a pool that is called now and then keeps
// its newest children warm and the rest in reserve.
type idleSet struct {
	mu    sync.Mutex
	kids  []*Process
	avail chan struct{} // a token per child in kids: receive one, then pop
}

func newIdleSet(size int) *idleSet {
	return &idleSet{avail: make(chan struct{}, size)}
}

// put adds an idle child; at most the pool's size are ever in the set.
func (s *idleSet) put(c *Process) {
	s.mu.Lock()
	s.kids = append(s.kids, c)
	s.mu.Unlock()
	s.avail <- struct{}{}
}

// pop takes the newest child; call it only with a token received from
// avail (so the set holds one).
func (s *idleSet) pop() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.kids[len(s.kids)-1]
	s.kids[len(s.kids)-1] = nil
	s.kids = s.kids[:len(s.kids)-1]
	return c
}

// len is the number of idle children.
func (s *idleSet) len() int { return len(s.avail) }
