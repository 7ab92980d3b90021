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
