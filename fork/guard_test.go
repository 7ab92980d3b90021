package fork

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// guardProbe runs in a sandbox that shares the launcher's pid namespace
// and says what it can do to its launcher (its parent) and to victim,
// another process of the same user outside the sandbox.
func guardProbe(victim int) map[string]string {
	out := map[string]string{}
	e := func(err error) string {
		if err == nil {
			return "ok"
		}
		return unix.ErrnoName(err.(unix.Errno))
	}
	launcher := os.Getppid()
	out["kill launcher"] = e(unix.Kill(launcher, 0))
	out["kill -1"] = e(unix.Kill(-1, 0))
	out["kill victim"] = e(unix.Kill(victim, 0))
	if fd, err := unix.PidfdOpen(launcher, 0); err == nil {
		unix.Close(fd)
		out["pidfd_open launcher"] = "ok"
	} else {
		out["pidfd_open launcher"] = e(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err == nil {
		owner := struct{ typ, pid int32 }{0, int32(launcher)} // F_OWNER_TID
		_, _, en := unix.Syscall(unix.SYS_FCNTL, uintptr(p[0]), unix.F_SETOWN_EX, uintptr(unsafe.Pointer(&owner)))
		out["F_SETOWN_EX"] = e(probeErr(en))
		unix.Close(p[0])
		unix.Close(p[1])
	}
	return out
}

func probeErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func init() { RegisterFunc("guardProbe", guardProbe) }

// TestLauncherGuardLayers: with the Landlock signal scope, the sandbox can
// signal neither its launcher nor any other process of the user; the
// seccomp prefix refuses what names the launcher (pidfd_open included)
// and kill(-1). As on a kernel without the scope, the prefix alone still
// holds for the launcher and refuses F_SETOWN_EX, while another process
// of the user is reachable (SECURITY.md says so).
func TestLauncherGuardLayers(t *testing.T) {
	testreq.Need(t, landlockABI() >= landlockScopeABI, "Landlock ABI %d, want %d (Linux 6.12) for the signal scope", landlockABI(), landlockScopeABI)
	victim := exec.Command("/bin/sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { victim.Process.Kill(); victim.Wait() }()
	opts := sandbox.Default().WithoutNamespaces(specs.PIDNamespace)
	// Rootless, the sandbox has the victim's uid: only Landlock keeps it
	// away. As root the sandbox runs as a leased unprivileged uid, which
	// may not signal root's processes in any case.
	sameUID := "ok"
	if os.Geteuid() == 0 {
		sameUID = "EPERM"
	}
	for _, c := range []struct {
		noScope bool
		want    map[string]string
	}{
		{false, map[string]string{"kill launcher": "EPERM", "kill -1": "EPERM", "kill victim": "EPERM", "pidfd_open launcher": "EPERM", "F_SETOWN_EX": "ok"}},
		{true, map[string]string{"kill launcher": "EPERM", "kill -1": "EPERM", "kill victim": sameUID, "pidfd_open launcher": "EPERM", "F_SETOWN_EX": "EPERM"}},
	} {
		testNoLandlockScope = c.noScope
		got, err := Call[map[string]string](context.Background(), "guardProbe", opts, victim.Process.Pid)
		testNoLandlockScope = false
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range c.want {
			if got[k] != w {
				t.Errorf("without the Landlock scope %v: %s = %s, want %s", c.noScope, k, got[k], w)
			}
		}
		t.Logf("without the Landlock scope %v: %v", c.noScope, got)
	}
	// With a pid namespace of its own there is no guard: nothing outside
	// is visible.
	got, err := Call[map[string]string](context.Background(), "guardProbe", sandbox.Default(), victim.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got["kill victim"] != "ESRCH" {
		t.Errorf("own pid namespace: kill victim = %s, want ESRCH", got["kill victim"])
	}
}
