package pidsig

import (
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// alive reports whether the child cmd was not killed: waitid without
// reaping it.
func alive(t *testing.T, cmd *exec.Cmd) bool {
	t.Helper()
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	return info.Signo == 0
}

// TestListedSkipsWhatLeftTheListing: a first listing names a process the
// second no longer names (a listed pid taken by a process outside, the
// case a listing read before the signal cannot rule out): that process
// survives, the one both name is signalled.
func TestListedSkipsWhatLeftTheListing(t *testing.T) {
	outsider, member := sleeper(t), sleeper(t)
	calls := 0
	list := func() []int {
		calls++
		if calls == 1 {
			return []int{outsider.Process.Pid, member.Process.Pid}
		}
		return []int{member.Process.Pid}
	}
	if n := Listed(list, unix.SIGKILL); n != 1 {
		t.Errorf("reached %d, want 1", n)
	}
	member.Wait()
	if st := member.ProcessState; st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the member listed twice: %v, want killed", st)
	}
	if !alive(t, outsider) {
		t.Error("the process only the first listing named was signalled")
	}
}

// TestListedNeverSignalsAReplacement: the process a pid was pinned for is
// reaped before the second listing, which names the pid again (as it
// would if the pid were taken by a new member): nothing is signalled, in
// particular no process that takes the pid afterwards; and a pid that is
// no process at all is skipped.
func TestListedNeverSignalsAReplacement(t *testing.T) {
	first := sleeper(t)
	pid := first.Process.Pid
	calls := 0
	list := func() []int {
		calls++
		if calls == 2 {
			first.Process.Kill()
			first.Wait()
		}
		return []int{pid}
	}
	if n := Listed(list, unix.SIGTERM); n != 0 {
		t.Errorf("reached %d, want 0: the pinned process was gone", n)
	}
	if n := Listed(func() []int { return []int{pid} }, unix.SIGTERM); n != 0 {
		t.Errorf("a reaped pid: reached %d", n)
	}
	other := sleeper(t)
	if n := Listed(func() []int { return []int{other.Process.Pid} }, 0); n != 1 || !alive(t, other) {
		t.Errorf("signal 0 to a listed live process: reached %d", n)
	}
}
