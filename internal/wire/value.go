package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// The encoding of one argument or result value that needs no descriptor:
// nil (ArgNil), a []byte or string inline (ArgRaw), a bool, integer or
// float in one 8-byte word (ArgWord), anything else through encoding/gob
// (ArgGob). fork and gofork both use it; fork adds descriptors (ArgFile)
// and big byte slices in pipes (ArgBytes).

// Nillable reports whether a value of kind k can be nil.
func Nillable(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return true
	}
	return false
}

// BytesLike reports whether t is a string or a []byte (or a named type of
// either): such values travel raw, never through gob.
func BytesLike(t reflect.Type) bool {
	return t.Kind() == reflect.String || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8)
}

// ParamType returns the type of argument i of the function type ft.
func ParamType(ft reflect.Type, i int) reflect.Type {
	if ft.IsVariadic() && i >= ft.NumIn()-1 {
		return ft.In(ft.NumIn() - 1).Elem()
	}
	return ft.In(i)
}

// CheckArity checks that n arguments fit the function type ft.
func CheckArity(ft reflect.Type, n int) error {
	if ft.IsVariadic() {
		if n < ft.NumIn()-1 {
			return fmt.Errorf("%d arguments given, at least %d needed", n, ft.NumIn()-1)
		}
		return nil
	}
	if n != ft.NumIn() {
		return fmt.Errorf("%d arguments given, %d needed", n, ft.NumIn())
	}
	return nil
}

// ArgValue checks a, given for a parameter of type pt: nil (for a
// nillable pt; the Value returned is then the zero Value) or a value
// assignable to pt.
func ArgValue(a any, pt reflect.Type) (reflect.Value, error) {
	if a == nil {
		if !Nillable(pt.Kind()) {
			return reflect.Value{}, fmt.Errorf("nil given for a parameter of type %s", pt)
		}
		return reflect.Value{}, nil
	}
	av := reflect.ValueOf(a)
	if !av.Type().AssignableTo(pt) {
		return reflect.Value{}, fmt.Errorf("%s is not assignable to the parameter type %s", av.Type(), pt)
	}
	return av, nil
}

// EncodeValue encodes v as a value of type t (v's type is t, or, for an
// interface t, one assignable to it).
func EncodeValue(v reflect.Value, t reflect.Type) (Arg, error) {
	switch {
	case Nillable(t.Kind()) && v.Kind() == t.Kind() && v.IsNil():
		return Arg{Kind: ArgNil}, nil
	case BytesLike(t) && BytesLike(v.Type()):
		if v.Kind() == reflect.String {
			return Arg{Kind: ArgRaw, Data: []byte(v.String())}, nil
		}
		return Arg{Kind: ArgRaw, Data: v.Bytes()}, nil
	case t.Kind() == reflect.Func || t.Kind() == reflect.Chan || t.Kind() == reflect.UnsafePointer:
		return Arg{}, fmt.Errorf("a %s cannot be sent to another process", t.Kind())
	}
	if w, ok := wordOf(v, t); ok {
		return Arg{Kind: ArgWord, Data: w}, nil
	}
	data, err := GobValue(v, t)
	if err != nil {
		return Arg{}, err
	}
	return Arg{Kind: ArgGob, Data: data}, nil
}

// GobValue encodes v as a value of static type t (an interface type keeps
// its dynamic type name, which gob.Register must know).
func GobValue(v reflect.Value, t reflect.Type) ([]byte, error) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	var err error
	if t.Kind() == reflect.Interface {
		p := reflect.New(t)
		p.Elem().Set(v)
		err = enc.EncodeValue(p)
	} else {
		err = enc.EncodeValue(v)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeValue is the inverse of EncodeValue, for one value of type t.
func DecodeValue(a *Arg, t reflect.Type) (reflect.Value, error) {
	switch a.Kind {
	case ArgNil:
		return reflect.Zero(t), nil
	case ArgRaw:
		if !BytesLike(t) {
			return reflect.Value{}, fmt.Errorf("raw bytes for a parameter of type %s", t)
		}
		if t.Kind() == reflect.String {
			return reflect.ValueOf(string(a.Data)).Convert(t), nil
		}
		return reflect.ValueOf(bytes.Clone(a.Data)).Convert(t), nil
	case ArgWord:
		return wordValue(a.Data, t)
	case ArgGob:
		p := reflect.New(t)
		if err := gob.NewDecoder(bytes.NewReader(a.Data)).DecodeValue(p); err != nil {
			return reflect.Value{}, fmt.Errorf("decoding %s: %w", t, err)
		}
		return p.Elem(), nil
	}
	return reflect.Value{}, fmt.Errorf("unknown argument kind %d", a.Kind)
}
