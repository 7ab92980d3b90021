package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
)

// A bool, integer or float value (of any named type of those kinds) whose
// static type is that kind travels as one little-endian 8-byte word
// (ArgWord), not through gob: a gob encoder and decoder per value cost a
// pooled call more than the call itself (docs/speed.md). Interfaces,
// complex numbers and everything else keep gob.

// WordKind reports whether values of static type t travel as a word.
func WordKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// wordOf encodes v, of static type t, as a word when t is a word kind.
func wordOf(v reflect.Value, t reflect.Type) ([]byte, bool) {
	if !WordKind(t) || v.Kind() != t.Kind() {
		return nil, false
	}
	var u uint64
	switch k := t.Kind(); {
	case k == reflect.Bool:
		if v.Bool() {
			u = 1
		}
	case k >= reflect.Int && k <= reflect.Int64:
		u = uint64(v.Int())
	case k >= reflect.Uint && k <= reflect.Uintptr:
		u = v.Uint()
	case k == reflect.Float32:
		u = uint64(math.Float32bits(float32(v.Float())))
	default:
		u = math.Float64bits(v.Float())
	}
	return binary.LittleEndian.AppendUint64(make([]byte, 0, 8), u), true
}

// wordValue decodes a word into a value of type t. Whatever the word came
// from (a sandboxed function's results are untrusted) it must be exactly 8
// bytes, fit t without loss, and a bool must be 0 or 1.
func wordValue(b []byte, t reflect.Type) (reflect.Value, error) {
	if !WordKind(t) {
		return reflect.Value{}, fmt.Errorf("a word for a value of type %s", t)
	}
	if len(b) != 8 {
		return reflect.Value{}, fmt.Errorf("a word of %d bytes for a value of type %s", len(b), t)
	}
	u := binary.LittleEndian.Uint64(b)
	v := reflect.New(t).Elem()
	switch k := t.Kind(); {
	case k == reflect.Bool:
		if u > 1 {
			return reflect.Value{}, fmt.Errorf("%#x is not a bool", u)
		}
		v.SetBool(u == 1)
	case k >= reflect.Int && k <= reflect.Int64:
		if v.OverflowInt(int64(u)) {
			return reflect.Value{}, fmt.Errorf("%d overflows %s", int64(u), t)
		}
		v.SetInt(int64(u))
	case k >= reflect.Uint && k <= reflect.Uintptr:
		if v.OverflowUint(u) {
			return reflect.Value{}, fmt.Errorf("%d overflows %s", u, t)
		}
		v.SetUint(u)
	case k == reflect.Float32:
		if u>>32 != 0 {
			return reflect.Value{}, fmt.Errorf("%#x is not a float32", u)
		}
		v.SetFloat(float64(math.Float32frombits(uint32(u))))
	default:
		v.SetFloat(math.Float64frombits(u))
	}
	return v, nil
}
