package wire

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type celsius float32
type flag bool
type port uint16

// TestWordRoundTrip: every bool, integer and float kind, named or not, at
// its extremes, travels as one 8-byte word (not gob) and comes back
// bit-identical through a frame.
func TestWordRoundTrip(t *testing.T) {
	vals := []any{
		true, false, flag(true),
		int(math.MinInt64), int(math.MaxInt64), int8(math.MinInt8), int8(math.MaxInt8),
		int16(math.MinInt16), int32(math.MaxInt32), int64(-1), time.Duration(-3 * time.Second),
		uint(math.MaxUint64), uint8(255), port(65535), uint32(math.MaxUint32), uint64(1 << 63), uintptr(0xdeadbeef),
		float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32), celsius(-40.5), float32(math.Inf(-1)),
		math.MaxFloat64, math.Copysign(0, -1), math.Inf(1), math.NaN(), math.Float64frombits(0x7ff8000000000001),
	}
	var args []Arg
	for _, v := range vals {
		rv := reflect.ValueOf(v)
		a, err := EncodeValue(rv, rv.Type())
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		if a.Kind != ArgWord || len(a.Data) != 8 {
			t.Fatalf("%T %v: kind %d, %d bytes; want a word", v, v, a.Kind, len(a.Data))
		}
		args = append(args, a)
	}
	back, err := DecodeValues(EncodeValues(args))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		rv := reflect.ValueOf(v)
		got, err := DecodeValue(&back[i], rv.Type())
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		if got.Type() != rv.Type() {
			t.Fatalf("%T: came back as %s", v, got.Type())
		}
		same := got.Interface() == v
		if f, ok := v.(float64); ok {
			same = math.Float64bits(got.Float()) == math.Float64bits(f)
		}
		if !same {
			t.Errorf("%T %v came back as %v", v, v, got.Interface())
		}
	}
}

// TestWordNotForOthers: an interface, a complex number, a struct keep gob.
func TestWordNotForOthers(t *testing.T) {
	anyT := reflect.TypeFor[any]()
	for _, c := range []struct {
		v any
		t reflect.Type
	}{
		{7, anyT},
		{complex(1, 2), reflect.TypeFor[complex128]()},
		{struct{ X int }{1}, reflect.TypeFor[struct{ X int }]()},
	} {
		v := reflect.ValueOf(c.v)
		if c.t.Kind() == reflect.Interface {
			p := reflect.New(c.t).Elem()
			p.Set(v)
			v = p
		}
		a, err := EncodeValue(v, c.t)
		if err != nil {
			t.Fatalf("%s: %v", c.t, err)
		}
		if a.Kind != ArgGob {
			t.Errorf("%s: kind %d, want gob", c.t, a.Kind)
		}
	}
}

// TestWordHostile: a word that does not fit its type exactly is an error,
// never a truncated or reinterpreted value (a sandboxed function's results
// are untrusted).
func TestWordHostile(t *testing.T) {
	w := func(u uint64) []byte {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(u >> (8 * i))
		}
		return b
	}
	for _, c := range []struct {
		data []byte
		t    reflect.Type
		want string
	}{
		{w(2), reflect.TypeFor[bool](), "not a bool"},
		{w(300), reflect.TypeFor[int8](), "overflows int8"},
		{w(uint64(math.MaxInt64)), reflect.TypeFor[int32](), "overflows int32"},
		{w(1 << 32), reflect.TypeFor[uint32](), "overflows uint32"},
		{w(65536), reflect.TypeFor[port](), "overflows wire.port"},
		{w(1 << 40), reflect.TypeFor[float32](), "not a float32"},
		{w(1), reflect.TypeFor[string](), "a word for a value of type string"},
		{w(1), reflect.TypeFor[any](), "a word for a value of type interface {}"},
		{w(1)[:7], reflect.TypeFor[int](), "7 bytes"},
		{append(w(1), 0), reflect.TypeFor[int](), "9 bytes"},
	} {
		_, err := DecodeValue(&Arg{Kind: ArgWord, Data: c.data}, c.t)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%x as %s: %v, want an error with %q", c.data, c.t, err, c.want)
		}
	}
}

// FuzzWordValue: any 8 bytes decode, for any word kind, to a value that
// encodes back to the same bytes (NaNs: to a NaN), or to an error.
func FuzzWordValue(f *testing.F) {
	types := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](),
		reflect.TypeFor[int64](), reflect.TypeFor[uint8](), reflect.TypeFor[port](), reflect.TypeFor[uint32](),
		reflect.TypeFor[uint](), reflect.TypeFor[celsius](), reflect.TypeFor[float64](),
	}
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0}, uint8(0))
	f.Add([]byte{0, 0, 0xc0, 0x7f, 0, 0, 0, 0}, uint8(9))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		typ := types[int(k)%len(types)]
		v, err := wordValue(b, typ)
		if err != nil {
			return
		}
		re, ok := wordOf(v, typ)
		if !ok {
			t.Fatalf("%s decoded but does not encode", typ)
		}
		if string(re) != string(b) && !(typ.Kind() >= reflect.Float32 && math.IsNaN(v.Float())) {
			t.Fatalf("%s: %x decoded to %v, which encodes to %x", typ, b, v, re)
		}
	})
}
