package fork

import "github.com/nsfork/nsfork/internal/wire"

// forgedRequest frames a request the way a parent would, for tests that
// play a hostile parent.
func ForgedRequest(name string, token []byte) []byte {
	var b bytesWriter
	wire.WriteFrame(&b, wire.KindRequest, wire.EncodeRequest(&wire.Request{Version: wire.Version, Token: token, Name: name}))
	return b
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// ForgedRequestArgs frames a request with raw gob argument bytes.
func ForgedRequestArgs(name string, token []byte, gobs [][]byte) []byte {
	var b bytesWriter
	req := &wire.Request{Version: wire.Version, Token: token, Name: name}
	for _, g := range gobs {
		req.Args = append(req.Args, wire.Arg{Kind: wire.ArgGob, Data: g})
	}
	wire.WriteFrame(&b, wire.KindRequest, wire.EncodeRequest(req))
	return b
}

// poolReady calls f for each child waiting in p, which keep waiting.
func poolReady(p *Pool, f func(*Process)) {
	var ps []*Process
	for {
		select {
		case <-p.idle.avail:
			ps = append(ps, p.idle.pop())
			continue
		default:
		}
		break
	}
	for _, c := range ps {
		f(c)
	}
	for i := len(ps) - 1; i >= 0; i-- { // back in their order
		p.idle.put(ps[i])
	}
}

// PoolIdlePids lists the pids of the children waiting in p.
func PoolIdlePids(p *Pool) []int {
	var pids []int
	poolReady(p, func(c *Process) { pids = append(pids, c.Pid) })
	return pids
}

// PoolReadyEnded counts the children waiting in p whose end the pool has
// seen (their channel closed): start replaces those instead of handing
// them a call.
func PoolReadyEnded(p *Pool) int {
	n := 0
	poolReady(p, func(c *Process) {
		select {
		case <-c.readDone:
			n++
		default:
		}
	})
	return n
}
