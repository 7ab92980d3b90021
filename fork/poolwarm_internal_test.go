package fork

import "testing"

// The pooled child's warm-up goes the whole way through the codec and the
// reflect call (a change of either that broke it would only show as
// slower calls), and runs no registered function.
func TestWarmCallPath(t *testing.T) {
	if err := warmCallPath(); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup("nsfork:warm"); ok {
		t.Fatal("the warm-up's name is a registered function")
	}
}
