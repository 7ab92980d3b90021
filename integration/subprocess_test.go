package integration

// Running this test binary again, as a subprocess: a copy of it in a
// directory of its own (a victim, an attacker, a command for a sandbox),
// and the arguments that make it run one helper test.

import (
	"os"
	"path/filepath"
	"testing"
)

// testBinaryCopy copies this test binary into a new world-readable
// directory, removed when t ends, as name, and returns both.
func testBinaryCopy(t *testing.T, name string) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsfork-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, name)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// helperTest is the argv tail that makes a copy of this test binary run
// only the helper test name, once.
func helperTest(name string) []string {
	return []string{"-test.run=^" + name + "$", "-test.count=1"}
}
