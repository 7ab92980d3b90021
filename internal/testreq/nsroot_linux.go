package testreq

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// RunAsNSRoot runs test name of this test binary again, with env=1, as
// root of a new user namespace that maps the caller's ids to 0 (as
// `unshare -r` does), in the namespaces of flags besides, with files as
// its descriptors from 3 on, and returns its output. No user namespace
// (EPERM, ENOSPC) is a missing prerequisite (Need); any other failure
// fails t.
func RunAsNSRoot(t testing.TB, name, env string, flags uintptr, files ...*os.File) []byte {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) {
		Need(t, false, "a new user namespace (unprivileged user namespaces, max_user_namespaces): %v", err)
	}
	if err != nil {
		t.Fatalf("child, root of a new user namespace: %v: %s", err, out)
	}
	return out
}
