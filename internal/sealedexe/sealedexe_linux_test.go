package sealedexe

import (
	"bytes"
	"os"
	"testing"
)

// TestMake: the copy holds the running binary byte for byte and cannot be
// written to or grown through its path.
func TestMake(t *testing.T) {
	path, err := Make()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the copy differs from the binary: %d bytes against %d", len(got), len(want))
	}
	// Opening it for writing may succeed (a file not being executed); the
	// seal refuses every write and every growth.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Fatalf("wrote to the sealed copy %s", path)
	}
	if err := f.Truncate(int64(len(want)) + 1); err == nil {
		t.Fatalf("grew the sealed copy %s", path)
	}
}
