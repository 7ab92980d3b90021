package fork

import (
	"reflect"
	"sync"
)

var (
	regMu    sync.RWMutex
	registry = map[string]*Function{}
)

// Register records f under f.Name, for Init to run in a child and Fork to
// start. As with go-fork, a name registered again replaces the first, and
// an empty name panics; so does a nil f or one without a function.
func Register(f *Function) {
	if f == nil {
		panic("gofork: Register of a nil *Function (NewFork returns nil when fn is not a func)")
	}
	if f.Name == "" {
		panic("gofork: Register of a Function with no name")
	}
	if !f.fn.IsValid() || f.fn.Kind() != reflect.Func || f.fn.IsNil() {
		panic("gofork: Register(" + f.Name + "): not a function")
	}
	regMu.Lock()
	registry[f.Name] = f
	regMu.Unlock()
}

// RegisterFunc records fn under the name n, as Register(NewFork(n, fn)).
func RegisterFunc(n string, fn any) {
	Register(NewFork(n, fn))
}

func lookup(name string) (*Function, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[name]
	return f, ok
}
