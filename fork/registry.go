package fork

import (
	"fmt"
	"reflect"
	"sync"
	"unicode"
)

var (
	regMu    sync.RWMutex
	registry = map[string]*Function{}
	errType  = reflect.TypeFor[error]()
)

// validName: a registered name is what travels to the child; keep it short
// and printable.
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("fork: empty function name")
	}
	if len(name) > 256 {
		return fmt.Errorf("fork: function name %.20q... longer than 256 bytes", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("fork: function name %q contains a space or unprintable character", name)
		}
	}
	return nil
}

// Register records f under f.Name so that Init can run it in a child and
// Fork can start it. Registering an invalid name, a Function without a
// function, or a name twice panics: it is a programmer error, found on the
// first run.
func Register(f *Function) {
	if f == nil {
		panic("fork: Register of a nil *Function (NewFork returns nil when fn is not a func)")
	}
	if err := validName(f.Name); err != nil {
		panic(err.Error())
	}
	if !f.fn.IsValid() || f.fn.Kind() != reflect.Func || f.fn.IsNil() {
		panic(fmt.Sprintf("fork: Register(%q): not a function", f.Name))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[f.Name]; dup {
		panic(fmt.Sprintf("fork: function %q registered twice", f.Name))
	}
	registry[f.Name] = f
}

// RegisterFunc records fn under name. fn is any func; its parameters must be
// gob-encodable, *os.File, or []byte/string, and it may return any number
// of gob-encodable values, the last of which may be an error. Like Register,
// it panics on an invalid or duplicate name, or when fn is not a func.
func RegisterFunc(name string, fn any) {
	f := NewFork(name, fn)
	if f == nil {
		panic(fmt.Sprintf("fork: RegisterFunc(%q): %T is not a function", name, fn))
	}
	Register(f)
}

func lookup(name string) (*Function, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[name]
	return f, ok
}
