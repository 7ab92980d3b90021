package cgroups

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// ErrNoDelegation is sandbox.ErrNoDelegation: returned (wrapped, together
// with the errno that proved it, usually unix.EACCES) when the caller may
// not create or configure a cgroup where one is needed.
var ErrNoDelegation = sandbox.ErrNoDelegation

// delegationHint is appended to delegation errors and to Probe's reason.
const delegationHint = "run as host root (not root of a user namespace), or start the launcher in a delegated cgroup v2 subtree, e.g. " +
	"`systemd-run --user --scope -p Delegate=yes <cmd>` (needs cgroup v2 and systemd's user manager); " +
	"on cgroup v1 an administrator must create a cgroup per controller and chown it to the user; " +
	"pass BestEffort to run without the limits"

// Config says where the cgroup goes and what it limits.
type Config struct {
	// Resources are OCI linux.resources. Nil or empty still creates a cgroup,
	// for accounting.
	Resources *specs.LinuxResources
	// Path is an OCI cgroupsPath. "" creates a new child of the caller's own
	// cgroup in each hierarchy, named "nsfork-<pid>-<random>". A relative
	// path is taken under the caller's own cgroup; an absolute path from the
	// root of each hierarchy.
	Path string
	// BestEffort, only when the caller asked for it by name: limits (and
	// controllers) that cannot be applied for lack of permission or support
	// are skipped and listed by Skipped instead of failing New.
	BestEffort bool
}

// Cgroup is a cgroup (one directory per v1 hierarchy, or one v2 directory)
// made by New. Its methods are safe for concurrent use.
type Cgroup struct {
	mu      sync.Mutex
	sys     sysCgroup
	skipped []string
}

// Stats are the accounting figures of a Cgroup. Counters a kernel does not
// provide read as zero.
type Stats struct {
	MemoryPeak     uint64 // bytes; v1 memory.max_usage_in_bytes, v2 memory.peak
	MemoryLimit    uint64 // bytes; v1 memory.limit_in_bytes, v2 memory.max; 0 when unlimited
	MemoryLimitHit bool   // v2 memory.events max > 0; v1 failcnt > 0, an OOM kill, or the peak at the limit (recent kernels keep v1 failcnt at 0)
	OOMKills       uint64 // v1 memory.oom_control oom_kill, v2 memory.events oom_kill
	OOMKilled      bool   // OOMKills > 0
	CPUUsage       time.Duration
	CPUUser        time.Duration
	CPUSystem      time.Duration
	PidsPeak       uint64 // pids.peak where the kernel has it, else the current count
	PidsLimitHit   bool   // pids.events max > 0
}

// Report describes what cgroup support the calling process has.
type Report struct {
	Version     int               // 1 or 2; 0 when no usable cgroup filesystem is mounted
	Hierarchies map[string]string // controller (v1) or "unified" (v2) -> the caller's own cgroup directory
	Delegated   bool              // New can create a child cgroup and set limits here
	Rootless    bool              // not host root (sandbox.RootInInitialUserNS)
	Reason      string            // plain words: what works, and how to get delegation
}

// cgError is the *sandbox.SetupError of a cgroup operation (step
// "cgroup"): op on file, in the controller ctrl, writing value; the errno
// of err is its Errno, so errors.Is(err, unix.EACCES) holds.
func cgError(op, ctrl, file, value string, err error) *sandbox.SetupError {
	if ctrl != "" {
		op += " [" + ctrl + "]"
	}
	if value != "" {
		op += " " + strconv.Quote(value)
	}
	return sandbox.NewSetupError("cgroup", op, file, err)
}

// withHint adds to e's cause what to do about it, in parentheses.
func withHint(e *sandbox.SetupError, hint string) *sandbox.SetupError {
	cause := e.Err
	if cause == nil {
		cause = e.Errno
	}
	e.Err = fmt.Errorf("%w (%s)", cause, hint)
	return e
}

// New creates the cgroup(s) described by cfg and applies every limit in
// cfg.Resources. On error nothing it made is left behind.
func New(cfg Config) (*Cgroup, error) {
	h, err := discoverHost()
	if err != nil {
		return nil, err
	}
	return newCgroup(h, cfg)
}

// Version is 1 or 2.
func (c *Cgroup) Version() int { return c.sys.version() }

// FD returns an O_PATH|O_DIRECTORY descriptor of the cgroup v2 directory,
// for syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
// (CLONE_INTO_CGROUP). The Cgroup owns it; it is closed by Destroy. On v1
// ok is false.
func (c *Cgroup) FD() (fd int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sys.fd()
}

// Add moves a process into the cgroup: on v1 into every hierarchy's
// cgroup.procs, on v2 into cgroup.procs (the fallback when CLONE_INTO_CGROUP
// was not used).
func (c *Cgroup) Add(pid int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sys.add(pid)
}

// Paths maps each controller (v1) or "unified" (v2) to the cgroup directory.
func (c *Cgroup) Paths() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sys.paths()
}

// Skipped lists what BestEffort left out, in plain words; empty otherwise.
func (c *Cgroup) Skipped() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.skipped...)
}

// Stats reads the accounting figures, while processes run or after they
// exited, until Destroy.
func (c *Cgroup) Stats() (*Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sys.stats()
}

// Destroy kills every process left in the cgroup (v2 cgroup.kill where
// present, else freeze, SIGKILL each pid, thaw, repeated until empty or a
// timeout) and removes the directories New made. It is idempotent.
func (c *Cgroup) Destroy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sys.destroy()
}

// Cleanup removes stale nsfork-* cgroups left in the caller's own cgroup by
// a parent that was killed: those whose creator process is gone, and those
// with no live process. Only cgroups older than olderThan are considered,
// so a live launcher's fresh, still-empty cgroup survives; choose olderThan
// longer than a sandbox may legitimately sit empty (for example, between
// its process exiting and the parent reading Stats).
func Cleanup(olderThan time.Duration) (removed []string, err error) {
	h, err := discoverHost()
	if err != nil {
		return nil, err
	}
	return cleanup(h, olderThan, false)
}

// AbandonedGrace is how old an empty cgroup must be before CleanupAbandoned
// takes it: creating a cgroup and adding the sandbox to it is not atomic,
// and a launcher in another pid namespace may look gone from here.
const AbandonedGrace = 10 * time.Second

// CleanupAbandoned is the cleanup a launcher may run on its own, next to
// other launchers starting at the same time: it removes only cgroups that
// hold no process, whose creator is gone, and that are older than
// AbandonedGrace. It never kills anything: a sandbox that outlives its
// creator on purpose (fork.Config.KeepAlive) keeps its cgroup until it
// ends.
func CleanupAbandoned() (removed []string, err error) {
	h, err := discoverHost()
	if err != nil {
		return nil, err
	}
	return cleanup(h, AbandonedGrace, true)
}

// Probe reports the cgroup version, the caller's own cgroup in each
// hierarchy and whether New can create limited cgroups here.
func Probe() Report {
	h, err := discoverHost()
	if err != nil {
		return Report{Rootless: rootlessCaller(), Reason: err.Error()}
	}
	return probe(h)
}
