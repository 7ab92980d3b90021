package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func sampleRequest() *Request {
	return &Request{
		Version: Version, Token: bytes.Repeat([]byte{7}, 16), Name: "fn", Sandbox: []byte(`{"hostname":"x"}`),
		Flags: FlagDieWithParent | FlagEnv, Filter: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Argv: []string{"/bin/true", "x"}, Env: []string{"A=1", "PATH=/bin"},
		Args: []Arg{
			{Kind: ArgGob, Data: []byte{1, 2, 3}}, {Kind: ArgNil}, {Kind: ArgBytes, FD: 5, Len: 1 << 40},
			{Kind: ArgFile, FD: 6}, {Kind: ArgRaw, Data: []byte("raw")},
		},
	}
}

func TestRequestRoundTrip(t *testing.T) {
	r := sampleRequest()
	got, err := DecodeRequest(EncodeRequest(r))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("got %+v, want %+v", got, r)
	}
}

// TestEveryTruncation: every prefix of a valid request is refused, never
// accepted and never a panic.
func TestEveryTruncation(t *testing.T) {
	full := EncodeRequest(sampleRequest())
	for n := 0; n < len(full); n++ {
		if _, err := DecodeRequest(full[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d/%d: %v", n, len(full), err)
		}
	}
	if _, err := DecodeRequest(append(full, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}

func TestHostileLengths(t *testing.T) {
	e := &enc{}
	e.u32(Version)
	e.u32(0xffffffff) // token announcing 4 GiB
	if _, err := DecodeRequest(e.b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge token length: %v", err)
	}
	e = &enc{}
	e.u32(Version)
	e.bytes(nil)
	e.str("f")
	e.bytes(nil)
	e.u32(0)
	e.u32(1 << 30) // a billion arguments
	if _, err := DecodeRequest(e.b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge argument count: %v", err)
	}
}

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	WriteFrame(&b, KindResult, []byte("hello"))
	k, p, err := ReadFrame(&b, 100)
	if err != nil || k != KindResult || string(p) != "hello" {
		t.Fatalf("%v %v %q", k, err, p)
	}
	// A header announcing 4 GiB - 1 is refused before reading further.
	hdr := []byte{'n', 'f', byte(KindRequest), 0, 0xff, 0xff, 0xff, 0xff}
	if _, _, err := ReadFrame(bytes.NewReader(hdr), 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("huge frame: %v", err)
	}
	// Announcing 1 MiB and sending 3 bytes: a truncation error, and only
	// what arrived was allocated.
	hdr = []byte{'n', 'f', byte(KindRequest), 0, 0, 0, 0x10, 0, 'a', 'b', 'c'}
	if _, _, err := ReadFrame(bytes.NewReader(hdr), 1<<30); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte("GET / HTTP/1.1\r\n")), 100); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("bad magic: %v", err)
	}
}

func TestErrorsRoundTrip(t *testing.T) {
	p := &Panic{Value: "v", Type: "string", Stack: "s"}
	gp, err := DecodePanic(EncodePanic(p))
	if err != nil || *gp != *p {
		t.Fatalf("%+v %v", gp, err)
	}
	r := &RemoteError{Msg: "m", Type: "*errors.errorString", Errno: 2}
	gr, err := DecodeRemoteError(EncodeRemoteError(r))
	if err != nil || *gr != *r {
		t.Fatalf("%+v %v", gr, err)
	}
}

// FuzzDecodeRequest: whatever the bytes, decoding returns a request or an
// ErrMalformed error, and a decoded request encodes back to the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(EncodeRequest(sampleRequest()))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(EncodeRequest(r), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzReadFrame: a frame reader over arbitrary bytes never panics and never
// returns more than it was allowed.
func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	WriteFrame(&b, KindReady, []byte("x"))
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		_, p, err := ReadFrame(bytes.NewReader(in), 64)
		if err == nil && len(p) > 64 {
			t.Fatalf("payload of %d bytes over the bound", len(p))
		}
	})
}

func FuzzDecodeValues(f *testing.F) {
	f.Add(EncodeValues(sampleRequest().Args))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeValues(b)
		if err == nil && !bytes.Equal(EncodeValues(v), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// TestIndexes: a KindMounts payload round-trips; a count above the limit,
// a truncation and trailing bytes are refused.
func TestIndexes(t *testing.T) {
	b := EncodeIndexes([]int{3, 0, 7})
	got, err := DecodeIndexes(b, 10)
	if err != nil || !reflect.DeepEqual(got, []int{3, 0, 7}) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := DecodeIndexes(b, 2); !errors.Is(err, ErrMalformed) {
		t.Errorf("3 indexes with a limit of 2: %v", err)
	}
	if _, err := DecodeIndexes(b[:len(b)-1], 10); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := DecodeIndexes(append(b, 0), 10); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
}
