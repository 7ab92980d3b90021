package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/lookup"
)

// cloneFlags maps each OCI namespace type to its clone(2) and setns(2) flag.
var cloneFlags = lookup.Table[specs.LinuxNamespaceType, uintptr]{
	{Key: specs.UserNamespace, Val: unix.CLONE_NEWUSER},
	{Key: specs.PIDNamespace, Val: unix.CLONE_NEWPID},
	{Key: specs.MountNamespace, Val: unix.CLONE_NEWNS},
	{Key: specs.NetworkNamespace, Val: unix.CLONE_NEWNET},
	{Key: specs.UTSNamespace, Val: unix.CLONE_NEWUTS},
	{Key: specs.IPCNamespace, Val: unix.CLONE_NEWIPC},
	{Key: specs.CgroupNamespace, Val: unix.CLONE_NEWCGROUP},
	{Key: specs.TimeNamespace, Val: unix.CLONE_NEWTIME},
}

// CloneFlag returns the clone(2)/setns(2) flag of namespace type t, 0 for
// a type Linux does not have.
func CloneFlag(t specs.LinuxNamespaceType) uintptr { return cloneFlags.Value(t) }

var rlimitResources = lookup.Table[string, int]{
	{Key: "RLIMIT_AS", Val: unix.RLIMIT_AS},
	{Key: "RLIMIT_CORE", Val: unix.RLIMIT_CORE},
	{Key: "RLIMIT_CPU", Val: unix.RLIMIT_CPU},
	{Key: "RLIMIT_DATA", Val: unix.RLIMIT_DATA},
	{Key: "RLIMIT_FSIZE", Val: unix.RLIMIT_FSIZE},
	{Key: "RLIMIT_LOCKS", Val: unix.RLIMIT_LOCKS},
	{Key: "RLIMIT_MEMLOCK", Val: unix.RLIMIT_MEMLOCK},
	{Key: "RLIMIT_MSGQUEUE", Val: unix.RLIMIT_MSGQUEUE},
	{Key: "RLIMIT_NICE", Val: unix.RLIMIT_NICE},
	{Key: "RLIMIT_NOFILE", Val: unix.RLIMIT_NOFILE},
	{Key: "RLIMIT_NPROC", Val: unix.RLIMIT_NPROC},
	{Key: "RLIMIT_RSS", Val: unix.RLIMIT_RSS},
	{Key: "RLIMIT_RTPRIO", Val: unix.RLIMIT_RTPRIO},
	{Key: "RLIMIT_RTTIME", Val: unix.RLIMIT_RTTIME},
	{Key: "RLIMIT_SIGPENDING", Val: unix.RLIMIT_SIGPENDING},
	{Key: "RLIMIT_STACK", Val: unix.RLIMIT_STACK},
}
