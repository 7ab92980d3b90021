package fork

import (
	"fmt"
	"os"
	"reflect"

	"github.com/nsfork/nsfork/internal/wire"
)

// inlineMax is the largest []byte or string that travels inside the request
// frame; bigger ones go raw through a pipe of their own (bulkPipe), never
// through gob.
const inlineMax = 64 << 10

var (
	fileType = reflect.TypeFor[*os.File]()
)

// outgoing is an encoded argument list plus the descriptors that go with it.
type outgoing struct {
	args  []wire.Arg
	files []*os.File // passed to the child in this order from fd firstFD on
	owned []*os.File // the subset of files made here (pipe read ends), closed after start
	bulk  []bulkArg  // what is written into those pipes once the child runs
}

// closeOwned closes the descriptors made here for the child, once it has
// its copies.
func (o *outgoing) closeOwned() {
	for _, f := range o.owned {
		f.Close()
	}
	o.owned = nil
}

// bulkArg is a big []byte or string argument and the write end of its pipe.
type bulkArg struct {
	w    *os.File
	data []byte
}

func (o *outgoing) close() {
	if o == nil {
		return
	}
	o.closeOwned()
	for _, b := range o.bulk {
		b.w.Close()
	}
	o.bulk = nil
}

// sendBulk writes the big arguments into their pipes, in argument order (the
// child reads them in that order), and closes them. It returns once all is
// written: the child then holds, or the pipe buffer holds a copy of, every
// byte, so the caller may change its slices afterwards. An error means the
// child is gone; its Wait says why.
func (o *outgoing) sendBulk() error {
	var first error
	for _, b := range o.bulk {
		if first == nil {
			if _, err := b.w.Write(b.data); err != nil {
				first = err
			}
		}
		b.w.Close()
	}
	o.bulk = nil
	return first
}

func checkArity(name string, ft reflect.Type, n int) error {
	if err := wire.CheckArity(ft, n); err != nil {
		return fmt.Errorf("%w: %s is %s: %w", ErrArgs, name, ft, err)
	}
	return nil
}

// encodeArgs checks args against the parameters of ft and encodes them. The
// i-th passed file lands at descriptor firstFD+i in the child.
func encodeArgs(name string, ft reflect.Type, args []any, firstFD int) (*outgoing, error) {
	if err := checkArity(name, ft, len(args)); err != nil {
		return nil, err
	}
	o := &outgoing{args: make([]wire.Arg, len(args))}
	fail := func(i int, format string, a ...any) (*outgoing, error) {
		o.close()
		return nil, fmt.Errorf("%w: %s argument %d: %s", ErrArgs, name, i, fmt.Sprintf(format, a...))
	}
	for i, a := range args {
		pt := wire.ParamType(ft, i)
		av, err := wire.ArgValue(a, pt)
		if err != nil {
			return fail(i, "%v", err)
		}
		if !av.IsValid() {
			o.args[i] = wire.Arg{Kind: wire.ArgNil}
			continue
		}
		switch {
		case pt == fileType:
			f := a.(*os.File)
			if f == nil {
				o.args[i] = wire.Arg{Kind: wire.ArgNil}
				continue
			}
			o.args[i] = wire.Arg{Kind: wire.ArgFile, FD: uint32(firstFD + len(o.files))}
			o.files = append(o.files, f)
		case wire.BytesLike(pt) && wire.BytesLike(av.Type()):
			var data []byte
			if av.Kind() == reflect.String {
				data = []byte(av.String())
			} else {
				if av.IsNil() {
					o.args[i] = wire.Arg{Kind: wire.ArgNil}
					continue
				}
				data = av.Bytes()
			}
			if len(data) <= inlineMax {
				o.args[i] = wire.Arg{Kind: wire.ArgRaw, Data: data}
				continue
			}
			r, w, err := bulkPipe()
			if err != nil {
				return fail(i, "%v", err)
			}
			o.args[i] = wire.Arg{Kind: wire.ArgBytes, FD: uint32(firstFD + len(o.files)), Len: uint64(len(data))}
			o.files = append(o.files, r)
			o.owned = append(o.owned, r)
			o.bulk = append(o.bulk, bulkArg{w, data})
		case pt.Kind() == reflect.Func || pt.Kind() == reflect.Chan || pt.Kind() == reflect.UnsafePointer:
			return fail(i, "a %s cannot be sent to another process", pt.Kind())
		default:
			a, err := wire.EncodeValue(av, pt)
			if err != nil {
				return fail(i, "%v", err)
			}
			o.args[i] = a
		}
	}
	return o, nil
}

// decodeValue is the inverse of wire.EncodeValue and of the descriptor
// encodings, for one value of type t. blob maps ArgBytes and ArgFile descriptors.
func decodeValue(a *wire.Arg, t reflect.Type, fdv func(a *wire.Arg, t reflect.Type) (reflect.Value, error)) (reflect.Value, error) {
	if a.Kind == wire.ArgBytes || a.Kind == wire.ArgFile {
		if fdv == nil {
			return reflect.Value{}, fmt.Errorf("descriptor value where none is allowed")
		}
		return fdv(a, t)
	}
	return wire.DecodeValue(a, t)
}

// encodeResults encodes a function's outputs (the trailing error excluded).
func encodeResults(outs []reflect.Value) ([]wire.Arg, error) {
	args := make([]wire.Arg, len(outs))
	for i, v := range outs {
		a, err := wire.EncodeValue(v, v.Type())
		if err != nil {
			return nil, fmt.Errorf("result %d (%s): %w", i, v.Type(), err)
		}
		args[i] = a
	}
	return args, nil
}

// resultTypes lists ft's outputs without a trailing error.
func resultTypes(ft reflect.Type) (types []reflect.Type, hasErr bool) {
	n := ft.NumOut()
	if n > 0 && ft.Out(n-1) == errType {
		hasErr = true
		n--
	}
	for i := 0; i < n; i++ {
		types = append(types, ft.Out(i))
	}
	return types, hasErr
}
