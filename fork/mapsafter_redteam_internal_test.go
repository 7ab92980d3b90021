package fork

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// TestMapsAfterWriteFailsLeavesNothing (red team): a launch whose id maps
// the kernel refuses after the exec (here: written first by someone else,
// as another process of a rootless caller's own uid could) leaves nothing:
// no child, no cgroup, and, for a root caller's leased range, no lease
// still held. What an OCI runtime's create leaves when its start fails
// there. The cgroup and the lease are seen during the start (the hook), so
// that the test cannot pass by not finding them.
func TestMapsAfterWriteFailsLeavesNothing(t *testing.T) {
	testreq.RootOnly(t, "a cgroup of its own (Resources) needs root; rootless, TestMapsAfterWriteFails covers the child")
	opts := sandbox.Default()
	limit := int64(64)
	opts.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	plan, err := planIsolation(opts)
	if err != nil {
		t.Fatal(err)
	}
	if plan.planMapsAfter(nil); !plan.mapsAfter || !opts.LeasesIDRange() {
		t.Fatalf("the plan keeps the fork start (%v) or leases no range (%v)", plan.mapsAfter, opts.LeasesIDRange())
	}
	var child int
	var cgroupDirs, leaseFDs []string
	testHookAfterStart = func(pid int) {
		child = pid
		cgroupDirs = nsforkCgroups()
		leaseFDs = leaseFiles()
		os.WriteFile(fmt.Sprintf("/proc/%d/uid_map", pid), []byte(fmt.Sprintf("0 %d 1\n", os.Geteuid())), 0)
	}
	defer func() { testHookAfterStart = nil }()
	err = runNoop(opts)
	var se *SetupError
	if !errors.As(err, &se) || se.Step != "idmap" {
		t.Fatalf("got %v, want a *SetupError of step idmap", err)
	}
	if len(cgroupDirs) == 0 || len(leaseFDs) == 0 {
		t.Fatalf("during the start: cgroups %v, lease files %v: the test sees neither", cgroupDirs, leaseFDs)
	}
	if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the child %d is still there after the failed launch (kill 0: %v)", child, err)
	}
	for _, d := range cgroupDirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left after the failed launch (%v)", d, err)
		}
	}
	if left := leaseFiles(); len(left) > 0 {
		t.Errorf("lease still held after the failed launch: %v", left)
	}
}

// nsforkCgroups lists the cgroup directories this process made for its
// sandboxes (nsfork-PID-*), in every hierarchy, under this process's own
// cgroup there.
func nsforkCgroups() []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		ctrl := strings.TrimPrefix(f[1], "name=")
		if ctrl == "" {
			ctrl = "unified"
		}
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", ctrl, f[2], fmt.Sprintf("nsfork-%d-*", os.Getpid())))
		out = append(out, m...)
	}
	return out
}

// leaseFiles lists this process's descriptors open on files of the lease
// directory: a lease is held by its open, locked slot file.
func leaseFiles() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, sandbox.IDLeaseDir+"/") {
			out = append(out, l)
		}
	}
	return out
}
