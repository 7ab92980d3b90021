package nsinit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRedteamCopyFileNotRegular: tmpcopyup opens a file it found regular
// (fstatat); whoever owns the destination can swap it for a fifo (or a
// device node) before the open. The open must then fail, not block for a
// writer forever (the sandbox's start would hang) nor open a device.
func TestRedteamCopyFileNotRegular(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := unix.Mkfifo(filepath.Join(src, "f"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	done := make(chan error, 1)
	go func() { done <- copyFile(int(s.Fd()), int(d.Fd()), "f", "/dest/f") }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("copyFile of a fifo swapped in for a regular file: no error")
		}
	case <-time.After(20 * time.Second):
		// Unblock the open so the goroutine ends with the test.
		if w, err := os.OpenFile(filepath.Join(src, "f"), os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatalf("copyFile blocked opening a fifo (a start that never ends)")
	}
	// Control: a regular file is copied.
	if err := os.WriteFile(filepath.Join(src, "r"), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(int(s.Fd()), int(d.Fd()), "r", "/dest/r"); err != nil {
		t.Fatalf("copyFile of a regular file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "r")); string(b) != "data" {
		t.Errorf("copy holds %q, want data", b)
	}
}
