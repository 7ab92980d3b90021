package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRedteamPidFileTmpSymlink: --pid-file's temporary file (.NAME.tmp
// beside it) is never followed through a symbolic link another user
// planted in the pid file's directory: the link's target keeps its
// content.
func TestRedteamPidFileTmpSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	if err := os.Symlink(victim, filepath.Join(dir, ".pid.tmp")); err != nil {
		t.Fatal(err)
	}
	err := writePidFile(pidFile, 4242)
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if err == nil {
		if b, _ := os.ReadFile(pidFile); string(b) != "4242" {
			t.Errorf("pid file: %q, want 4242", b)
		}
		if fi, lerr := os.Lstat(pidFile); lerr != nil || !fi.Mode().IsRegular() {
			t.Errorf("pid file is not a regular file: %v %v", fi, lerr)
		}
	}
}
