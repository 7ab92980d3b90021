// Package lookup is a small read-only table for package-level constants.
//
// A package-level map is built by the package's init, at every start of
// every binary that links the package (for nsfork: the CLI and each
// re-executed child), whether or not the map is read. A Table of
// constant keys and values is a slice literal the compiler lays out as
// static data: it costs nothing until it is read. Its tables are a few
// dozen entries at most, so Get's linear scan is as fast as a map's hash.
package lookup

// Pair is one key and its value.
type Pair[K comparable, V any] struct {
	Key K
	Val V
}

// Table is a list of pairs with distinct keys.
type Table[K comparable, V any] []Pair[K, V]

// Get returns k's value and whether k is in t.
func (t Table[K, V]) Get(k K) (V, bool) {
	for _, p := range t {
		if p.Key == k {
			return p.Val, true
		}
	}
	var zero V
	return zero, false
}

// Value returns k's value, or V's zero value when k is not in t (a map
// index expression's result).
func (t Table[K, V]) Value(k K) V {
	v, _ := t.Get(k)
	return v
}

// Keys returns t's keys in t's order.
func (t Table[K, V]) Keys() []K {
	keys := make([]K, len(t))
	for i, p := range t {
		keys[i] = p.Key
	}
	return keys
}
