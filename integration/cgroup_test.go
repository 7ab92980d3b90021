package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func hog(mib int) int {
	var keep [][]byte
	for range mib {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	return len(keep)
}

func forkBomb() (int, error) {
	// Threads count against pids.max too, and a Go runtime that cannot
	// start a thread dies (newosproc). Start a few now and leave them
	// idle, for the scheduler to reuse while the limit is exhausted.
	var locked sync.WaitGroup
	release := make(chan struct{})
	for range 6 {
		locked.Add(1)
		go func() {
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	time.Sleep(10 * time.Millisecond)
	started := 0
	var cmds []*exec.Cmd
	for range 200 {
		c := exec.Command("/bin/sleep", "5")
		if err := c.Start(); err != nil {
			break
		}
		cmds = append(cmds, c)
		started++
	}
	for _, c := range cmds {
		c.Process.Kill()
		c.Wait()
	}
	return started, nil
}

func busy(d time.Duration) time.Duration {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
	}
	return d
}

func ownCgroup() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	return string(b)
}

func init() {
	fork.RegisterFunc("hog", hog)
	fork.RegisterFunc("forkBomb", forkBomb)
	fork.RegisterFunc("busy", busy)
	fork.RegisterFunc("ownCgroup", ownCgroup)
}

func limited(r *specs.LinuxResources) *sandbox.Options {
	o := sandbox.Default()
	o.Resources = r
	return o
}

// cgroupLimitsAvailable reports whether limits can be set here. Without
// root (no delegation on this host) it checks the clear error instead and
// reports false: the test has then tested what the rootless case promises.
func cgroupLimitsAvailable(t *testing.T) bool {
	t.Helper()
	if !root() {
		// Without a delegated cgroup: the clear error, which says how.
		_, err := new(fork.Config).Start(context.Background(), "hog", limited(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}), 1)
		if !errors.Is(err, sandbox.ErrNoDelegation) || !strings.Contains(err.Error(), "Delegate=yes") {
			t.Fatalf("rootless limits without delegation: %v", err)
		}
		return false
	}
	return true
}

func TestCgroupOOMReported(t *testing.T) {
	if !cgroupLimitsAvailable(t) {
		return
	}
	limit := int64(32 << 20)
	p, err := new(fork.Config).Start(context.Background(), "hog", limited(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}), 128)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var oom *fork.OOMError
	if !errors.As(err, &oom) {
		t.Fatalf("got %v, want *fork.OOMError", err)
	}
	if u := p.Usage(); u == nil || !u.OOMKilled || u.MemoryPeak < 16<<20 {
		t.Fatalf("usage %+v", p.Usage())
	}
}

func TestCgroupPidsLimit(t *testing.T) {
	if !cgroupLimitsAvailable(t) {
		return
	}
	p, err := new(fork.Config).Start(context.Background(), "forkBomb", limited(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(20))}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	n := p.Results()[0].(int)
	if n >= 20 || n < 1 {
		t.Fatalf("%d processes started under a pids limit of 20", n)
	}
	if u := p.Usage(); u == nil || !u.PidsLimitHit {
		t.Fatalf("usage %+v: pids limit hit not reported", p.Usage())
	}
	// The host is still responsive.
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupCPUQuota(t *testing.T) {
	if !cgroupLimitsAvailable(t) {
		return
	}
	quota, period := int64(25000), uint64(100000)
	p, err := new(fork.Config).Start(context.Background(), "busy", limited(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	u := p.Usage()
	if u == nil {
		t.Fatal("no usage")
	}
	share := float64(u.CPU) / float64(wall)
	t.Logf("cpu %v over %v wall: %.2f of a CPU", u.CPU, wall, share)
	if share > 0.5 {
		t.Fatalf("a 25%% quota let the busy loop use %.2f of a CPU", share)
	}
}

// TestCgroupNestedAndRemoved: the sandbox's cgroup is below the caller's in
// every hierarchy, and gone after Wait.
func TestCgroupNestedAndRemoved(t *testing.T) {
	if !cgroupLimitsAvailable(t) {
		return
	}
	pids := int64(50)
	p, err := new(fork.Config).Start(context.Background(), "ownCgroup", limited(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}).WithoutNamespaces(specs.CgroupNamespace))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	inside := p.Results()[0].(string)
	mine := ownCgroup()
	var created []string
	for _, l := range strings.Split(strings.TrimSpace(mine), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if !strings.Contains(parts[1], "pids") {
			continue
		}
		for _, il := range strings.Split(inside, "\n") {
			ip := strings.SplitN(il, ":", 3)
			if len(ip) == 3 && ip[1] == parts[1] {
				base := strings.TrimSuffix(parts[2], "/")
				if !strings.HasPrefix(ip[2], base+"/nsfork-") {
					t.Errorf("pids cgroup %q not nested under the caller's %q", ip[2], parts[2])
				}
				created = append(created, "/sys/fs/cgroup/pids"+ip[2])
			}
		}
	}
	if len(created) == 0 {
		t.Fatalf("no pids cgroup seen inside: %q", inside)
	}
	for _, d := range created {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Wait: %v", d, err)
		}
	}
}

var _ = context.Background

func ptr[T any](v T) *T { return &v }
