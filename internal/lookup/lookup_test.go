package lookup

import (
	"slices"
	"testing"
)

var testTable = Table[string, int]{{Key: "a", Val: 1}, {Key: "b", Val: 0}, {Key: "c", Val: 3}}

func TestTable(t *testing.T) {
	for k, want := range map[string]int{"a": 1, "b": 0, "c": 3} {
		if v, ok := testTable.Get(k); !ok || v != want {
			t.Errorf("Get(%q) = %d, %v; want %d, true", k, v, ok, want)
		}
		if v := testTable.Value(k); v != want {
			t.Errorf("Value(%q) = %d, want %d", k, v, want)
		}
	}
	if v, ok := testTable.Get("d"); ok || v != 0 {
		t.Errorf("Get(missing) = %d, %v; want 0, false", v, ok)
	}
	if v := testTable.Value("d"); v != 0 {
		t.Errorf("Value(missing) = %d, want 0", v)
	}
	if k := testTable.Keys(); !slices.Equal(k, []string{"a", "b", "c"}) {
		t.Errorf("Keys() = %v", k)
	}
}
