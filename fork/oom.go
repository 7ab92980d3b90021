package fork

import (
	"fmt"
	"syscall"
)

// oomKilled reports whether the child's end is the OOM killer's doing: its
// cgroup counted an OOM kill, and the child died of SIGKILL. In command
// mode in a new pid namespace the command is a child of the launcher (pid
// 1), which exits with the command's status, 128+9 for a SIGKILL, instead
// of being killed itself: that status counts as the SIGKILL.
func (p *Process) oomKilled(ee *ExitError) bool {
	if p.usage == nil || !p.usage.OOMKilled {
		return false
	}
	if ee.Signal() == syscall.SIGKILL {
		return true
	}
	return p.command && ee.Exited() && ee.ExitCode() == 128+int(syscall.SIGKILL)
}

// oomText is the message of an OOMError: "killed by the OOM killer: memory
// limit 32 MiB reached (peak 32 MiB)".
func oomText(u *Usage) string {
	if u.MemoryLimit == 0 {
		return fmt.Sprintf("killed by the OOM killer (memory peak %s)", mib(u.MemoryPeak))
	}
	return fmt.Sprintf("killed by the OOM killer: memory limit %s reached (peak %s)", mib(u.MemoryLimit), mib(u.MemoryPeak))
}

// mib formats a byte count in MiB, with one decimal unless it is whole.
func mib(b uint64) string {
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
