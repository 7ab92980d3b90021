package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("nsfork/wire: malformed message")

// Version is the protocol version carried in every request.
const Version = 2

// MaxArgs bounds the number of arguments and results in one message.
const MaxArgs = 4096

// ArgKind says how one argument travels.
type ArgKind uint8

const (
	ArgGob   ArgKind = 1 // Data holds the gob encoding of the value
	ArgNil   ArgKind = 2 // the zero value of the parameter type (a nil pointer, map, slice, interface)
	ArgBytes ArgKind = 3 // a []byte (or string) of Len bytes in the blob at FD
	ArgFile  ArgKind = 4 // an *os.File passed as the inherited descriptor FD
	ArgRaw   ArgKind = 5 // a []byte or string carried inline in Data
	ArgWord  ArgKind = 6 // a bool, integer or float in 8 bytes of Data (ScalarKind)
)

// Arg is one argument or result value.
type Arg struct {
	Kind ArgKind
	Data []byte
	FD   uint32 // descriptor number in the child for ArgBytes and ArgFile
	Len  uint64 // byte count for ArgBytes
}

// Request is what the parent sends the child first.
type Request struct {
	Version uint32
	Token   []byte // must equal the token in the child's marker
	Name    string // registered function
	Sandbox []byte // JSON of sandbox.Options; empty for none
	Flags   uint32
	Filter  []byte   // a seccomp.Program in its binary encoding, loaded last
	Argv    []string // command mode: the command
	Env     []string // with FlagEnv: the environment the child takes after its setup
	Args    []Arg
}

// Request flags.
const (
	FlagDieWithParent uint32 = 1 << 0 // child exits when the control socket closes
	FlagCommand       uint32 = 1 << 1 // command mode: nothing of the launcher survives exec
	FlagWaitGo        uint32 = 1 << 2 // after sending Applied, wait for KindGo or KindStop
	FlagPooled        uint32 = 1 << 3 // after setup, send KindIdle and wait for a KindCall
	FlagOneProc       uint32 = 1 << 4 // GOMAXPROCS=1 was added for setup: drop it after
	FlagHold          uint32 = 1 << 5 // with FlagWaitGo: wait for the verdict without a time limit
	FlagConsole       uint32 = 1 << 6 // command mode: the last passed descriptor is a console socket
	FlagMapsAfter     uint32 = 1 << 7 // the id maps were written after the exec (fork/mapsafter_linux.go)
	FlagRootAfter     uint32 = 1 << 8 // with FlagMapsAfter: become root of the user namespace first
	FlagEnv           uint32 = 1 << 9 // Env replaces the environment once the setup is done
)

// Panic is a recovered panic in the child.
type Panic struct {
	Value string
	Type  string
	Stack string
}

// RemoteError is an error value returned by the child's function.
type RemoteError struct {
	Msg   string
	Type  string // the dynamic type, e.g. "*fs.PathError"
	Errno uint32 // a syscall.Errno found by errors.As, 0 if none
}

type enc struct{ b []byte }

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) bytes(p []byte) {
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}
func (e *enc) strs(ss []string) {
	e.u32(uint32(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *enc) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (d *dec) u8(what string) uint8 {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what + " truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) u32(what string) uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.fail(what + " truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *dec) u64(what string) uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(what + " truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns a sub-slice of the input; the length is checked against what
// is left before anything is used, so a hostile length allocates nothing.
func (d *dec) bytes(what string) []byte {
	n := d.u32(what + " length")
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail(fmt.Sprintf("%s announces %d bytes, %d left", what, n, len(d.b)))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str(what string) string { return string(d.bytes(what)) }

// strs decodes a count and that many strings; each takes at least its
// 4-byte length, so a count above what is left is refused before
// allocating.
func (d *dec) strs(what string) []string {
	n := d.u32(what + " count")
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b))/4 {
		d.fail(fmt.Sprintf("%s count %d out of range", what, n))
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str(what)
	}
	return out
}

func (d *dec) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes after %s", len(d.b), what))
	}
	return d.err
}

func encodeArgs(e *enc, args []Arg) {
	e.u32(uint32(len(args)))
	for _, a := range args {
		e.u8(uint8(a.Kind))
		switch a.Kind {
		case ArgGob, ArgRaw, ArgWord:
			e.bytes(a.Data)
		case ArgBytes:
			e.u32(a.FD)
			e.u64(a.Len)
		case ArgFile:
			e.u32(a.FD)
		}
	}
}

func decodeArgs(d *dec) []Arg {
	n := d.u32("argument count")
	if d.err != nil {
		return nil
	}
	// Each argument takes at least one byte: a count above what is left is
	// a lie, refuse it before allocating.
	if n > MaxArgs || uint64(n) > uint64(len(d.b)) {
		d.fail(fmt.Sprintf("argument count %d out of range", n))
		return nil
	}
	args := make([]Arg, n)
	for i := range args {
		a := &args[i]
		a.Kind = ArgKind(d.u8("argument kind"))
		switch a.Kind {
		case ArgGob, ArgRaw, ArgWord:
			a.Data = d.bytes("argument data")
		case ArgNil:
		case ArgBytes:
			a.FD = d.u32("argument fd")
			a.Len = d.u64("argument length")
		case ArgFile:
			a.FD = d.u32("argument fd")
		default:
			d.fail(fmt.Sprintf("argument %d has unknown kind %d", i, a.Kind))
		}
		if d.err != nil {
			return nil
		}
	}
	return args
}

// EncodeRequest encodes r.
func EncodeRequest(r *Request) []byte {
	e := &enc{}
	e.u32(r.Version)
	e.bytes(r.Token)
	e.str(r.Name)
	e.bytes(r.Sandbox)
	e.u32(r.Flags)
	e.bytes(r.Filter)
	e.strs(r.Argv)
	e.strs(r.Env)
	encodeArgs(e, r.Args)
	return e.b
}

// DecodeRequest decodes a request; the returned value aliases p.
func DecodeRequest(p []byte) (*Request, error) {
	d := &dec{b: p}
	r := &Request{}
	r.Version = d.u32("version")
	if d.err == nil && r.Version != Version {
		return nil, fmt.Errorf("%w: protocol version %d, want %d", ErrMalformed, r.Version, Version)
	}
	r.Token = d.bytes("token")
	r.Name = d.str("name")
	r.Sandbox = d.bytes("sandbox")
	r.Flags = d.u32("flags")
	r.Filter = d.bytes("filter")
	r.Argv = d.strs("argv")
	r.Env = d.strs("env")
	r.Args = decodeArgs(d)
	if err := d.done("request"); err != nil {
		return nil, err
	}
	return r, nil
}

// EncodeValues encodes a result list.
func EncodeValues(args []Arg) []byte {
	e := &enc{}
	encodeArgs(e, args)
	return e.b
}

// DecodeValues decodes a result list.
func DecodeValues(p []byte) ([]Arg, error) {
	d := &dec{b: p}
	args := decodeArgs(d)
	if err := d.done("results"); err != nil {
		return nil, err
	}
	return args, nil
}

// EncodePanic encodes p.
func EncodePanic(p *Panic) []byte {
	e := &enc{}
	e.str(p.Value)
	e.str(p.Type)
	e.str(p.Stack)
	return e.b
}

// DecodePanic decodes a panic.
func DecodePanic(b []byte) (*Panic, error) {
	d := &dec{b: b}
	p := &Panic{Value: d.str("panic value"), Type: d.str("panic type"), Stack: d.str("panic stack")}
	return p, d.done("panic")
}

// EncodeRemoteError encodes r.
func EncodeRemoteError(r *RemoteError) []byte {
	e := &enc{}
	e.str(r.Msg)
	e.str(r.Type)
	e.u32(r.Errno)
	return e.b
}

// DecodeRemoteError decodes an error.
func DecodeRemoteError(b []byte) (*RemoteError, error) {
	d := &dec{b: b}
	r := &RemoteError{Msg: d.str("error message"), Type: d.str("error type"), Errno: d.u32("errno")}
	return r, d.done("error")
}

// EncodeIndexes encodes a list of indexes (the mounts of a KindMounts
// frame, one per descriptor passed with it, in order).
func EncodeIndexes(idx []int) []byte {
	e := &enc{}
	e.u32(uint32(len(idx)))
	for _, i := range idx {
		e.u32(uint32(i))
	}
	return e.b
}

// DecodeIndexes decodes a list of indexes of at most max entries.
func DecodeIndexes(p []byte, max int) ([]int, error) {
	d := &dec{b: p}
	n := d.u32("index count")
	if d.err == nil && int64(n) > int64(max) {
		d.fail(fmt.Sprintf("%d indexes, at most %d", n, max))
	}
	var out []int
	for i := uint32(0); d.err == nil && i < n; i++ {
		out = append(out, int(d.u32("index")))
	}
	if err := d.done("indexes"); err != nil {
		return nil, err
	}
	return out, nil
}
