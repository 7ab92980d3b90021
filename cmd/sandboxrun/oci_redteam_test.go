package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/sandbox"
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

// TestRedteamFeaturesMountOptions: every mount option `features` lists is
// applied in at least one case (bind or new file system, with or without
// a user namespace); none is refused everywhere.
func TestRedteamFeaturesMountOptions(t *testing.T) {
	for _, o := range ociFeaturesDoc().MountOptions {
		ok := false
		for _, bind := range []bool{true, false} {
			for _, userns := range []bool{true, false} {
				s, _ := sandbox.MountOptionSupported(o, bind, userns)
				ok = ok || s
			}
		}
		if !ok {
			t.Errorf("features lists mount option %q, which is refused in every case", o)
		}
	}
}

// TestRedteamKillReusedPid: kill and delete signal a recorded process only
// if it is still the one recorded (pid and start time): a process that
// took the pid since is never signalled.
func TestRedteamKillReusedPid(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	p, err := ociruntime.Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	stale := ociruntime.Proc{Pid: p.Pid, Start: p.Start - 1}
	if err := signalProc(stale, unix.SIGKILL); err == nil {
		t.Errorf("signalProc of a pid whose start time differs: no error")
	}
	if !p.Alive() {
		t.Fatalf("the process that holds the recorded pid was killed")
	}
	// Control: the recorded process itself is signalled.
	if err := signalProc(p, unix.SIGKILL); err != nil {
		t.Fatalf("signalProc of the recorded process: %v", err)
	}
}
