package cgroups

import "testing"

// TestStaleName: cleanup takes only directories named as newName names
// them, nsfork-PID-HEX.
func TestStaleName(t *testing.T) {
	if name := newName(4242); func() bool { pid, ok := staleName(name); return !ok || pid != 4242 }() {
		t.Errorf("staleName(%q) does not give pid 4242", name)
	}
	for _, name := range []string{"nsfork-", "nsfork-12", "nsfork-12-", "nsfork--ab", "nsfork-x1-ab", "nsfork-12-AB",
		"nsfork-12-ab-cd", "nsfork-12-abg", "xnsfork-12-ab", "nsfork-+12-ab", "user.slice"} {
		if _, ok := staleName(name); ok {
			t.Errorf("staleName(%q) = true, want false", name)
		}
	}
}
