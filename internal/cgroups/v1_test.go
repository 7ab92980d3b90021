//go:build linux

package cgroups

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// requireV1Root: the live v1 tests need root on a v1 (or hybrid) host.
func requireV1Root(t *testing.T) *host {
	t.Helper()
	need(t, os.Geteuid() == 0, "needs root (euid %d)", os.Geteuid())
	h, err := discoverHost()
	need(t, err == nil, "no cgroup filesystem: %v", err)
	need(t, h.mode == 1, "host limits through cgroup v2, not v1")
	return h
}

func newT(t *testing.T, cfg Config) *Cgroup {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return c
}

func assertGone(t *testing.T, c *Cgroup) {
	t.Helper()
	for ctrl, d := range c.Paths() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s still there after Destroy (%v)", ctrl, d, err)
		}
	}
}

func TestV1OOM(t *testing.T) {
	h := requireV1Root(t)
	need(t, h.v1["memory"].point != "", "memory controller not mounted")
	limit := int64(32 << 20)
	c := newT(t, Config{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}})
	if got := strings.TrimSpace(readFile(t, filepath.Join(c.Paths()["memory"], "memory.limit_in_bytes"))); got != "33554432" {
		t.Fatalf("memory.limit_in_bytes = %s", got)
	}
	ch := startChild(t, "alloc")
	if err := c.Add(ch.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	ch.release()
	err := ch.cmd.Wait()
	ws, _ := ch.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not OOM-killed: %v, output %q", err, ch.out.String())
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", *st)
	if !st.OOMKilled || st.OOMKills == 0 || !st.MemoryLimitHit {
		t.Errorf("Stats do not report the OOM kill: %+v", *st)
	}
	if st.MemoryPeak < uint64(limit)/2 || st.MemoryPeak > uint64(limit)+(1<<20) {
		t.Errorf("MemoryPeak %d not near the %d limit", st.MemoryPeak, limit)
	}
	if st.MemoryLimit != uint64(limit) {
		t.Errorf("MemoryLimit %d, want the %d set", st.MemoryLimit, limit)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, c)
}

func TestV1PidsForkBomb(t *testing.T) {
	h := requireV1Root(t)
	need(t, h.v1["pids"].point != "", "pids controller not mounted")
	_, err := exec.LookPath("sh")
	need(t, err == nil, "no sh: %v", err)
	c := newT(t, Config{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](20)}}})
	cmd := exec.Command("sh", "-c", "read x; while :; do sleep 5 & done")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if err := c.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	var st *Stats
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err = c.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.PidsLimitHit {
			break
		}
	}
	t.Logf("stats: %+v", *st)
	if !st.PidsLimitHit {
		t.Fatalf("pids limit never hit: %+v", *st)
	}
	cur, _ := readUint(filepath.Join(c.Paths()["pids"], "pids.current"))
	if cur > 20 || st.PidsPeak > 20 {
		t.Errorf("pids.current %d, peak %d exceed the limit 20", cur, st.PidsPeak)
	}
	// The host still forks.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "true").Run(); err != nil {
		t.Errorf("host cannot fork during the bomb: %v", err)
	}
	start := time.Now()
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Destroy took %v", time.Since(start))
	assertGone(t, c)
}

func TestV1CPUQuotaAndNesting(t *testing.T) {
	h := requireV1Root(t)
	need(t, h.v1["cpu"].point != "" && h.v1["cpuacct"].point != "", "cpu/cpuacct not mounted")
	c := newT(t, Config{Resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{
		Quota: ptr[int64](50000), Period: ptr[uint64](100000), Shares: ptr[uint64](512), Cpus: "0-1", Mems: "0",
	}}})
	ch := startChild(t, "spin")
	if err := c.Add(ch.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	ch.release()

	// Nesting: in every hierarchy the child's cgroup is below ours.
	self, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	kid, err := readProcCgroup(filepath.Join("/proc", itoa(ch.cmd.Process.Pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, dir := range c.Paths() {
		base := filepath.Base(dir)
		want := filepath.Join(self[ctrl], base)
		if kid[ctrl] != want || !strings.HasPrefix(kid[ctrl], self[ctrl]) {
			t.Errorf("%s: child in %q, want %q (under the caller's %q)", ctrl, kid[ctrl], want, self[ctrl])
		}
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(c.Paths()["cpuset"], "cpuset.cpus"))); got != "0-1" {
		t.Errorf("cpuset.cpus = %q", got)
	}

	time.Sleep(300 * time.Millisecond)
	s0, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(time.Second)
	s1, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	share := float64(s1.CPUUsage-s0.CPUUsage) / float64(time.Since(t0))
	t.Logf("CPU share with quota 50000/100000 and two spinning threads: %.2f of one CPU (user %v, system %v)", share, s1.CPUUser, s1.CPUSystem)
	if share >= 0.7 {
		t.Errorf("CPU share %.2f, want about 0.5 (quota 50000/100000)", share)
	}
	if share < 0.3 {
		// Other load on the host can starve the spinner; the bound that
		// matters is the upper one. Show what the quota did.
		t.Logf("spinner got less than the quota allows (host busy?); cpu.stat: %q", readFile(t, filepath.Join(c.Paths()["cpu"], "cpu.stat")))
	}
	for f, v := range map[string]string{"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "cpu.shares": "512"} {
		if got := strings.TrimSpace(readFile(t, filepath.Join(c.Paths()["cpu"], f))); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	_ = ch.cmd.Wait()
	if ws, _ := ch.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
		t.Errorf("spinner not killed by Destroy: %v", ch.cmd.ProcessState)
	}
	assertGone(t, c)
	if err := c.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestV1Accounting(t *testing.T) {
	requireV1Root(t)
	c := newT(t, Config{})
	if c.Version() != 1 {
		t.Fatalf("Version %d", c.Version())
	}
	if _, ok := c.FD(); ok {
		t.Error("FD on v1")
	}
	if _, err := c.Stats(); err != nil {
		t.Fatal(err)
	}
	rep := Probe()
	if rep.Version != 1 || !rep.Delegated || rep.Rootless {
		t.Errorf("Probe = %+v", rep)
	}
}

func TestV1RelativeAndAbsolutePath(t *testing.T) {
	h := requireV1Root(t)
	own, _ := h.ownDir("pids")
	c := newT(t, Config{Path: "nsfork-test-rel/inner", Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}}})
	if got := c.Paths()["pids"]; got != filepath.Join(own, "nsfork-test-rel/inner") {
		t.Errorf("relative path at %q", got)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(own, "nsfork-test-rel")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("intermediate directory left: %v", err)
	}
	abs := "/nsfork-test-abs-" + itoa(os.Getpid())
	c2 := newT(t, Config{Path: abs})
	if got := c2.Paths()["pids"]; got != filepath.Join(h.v1["pids"].point, abs) {
		t.Errorf("absolute path at %q", got)
	}
}

func TestV1RootlessNoDelegation(t *testing.T) {
	requireV1Root(t)
	exe := exeForOthers(t)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=rootless")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	s := string(out)
	t.Logf("uid 65534 sees:\n%s", s)
	for _, want := range []string{"NODELEG=true", "EACCES=true", "Delegate=yes", "BE=ok", "PROBE delegated=false rootless=true"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestCleanupStale(t *testing.T) {
	need(t, os.Geteuid() == 0, "needs root (euid %d)", os.Geteuid())
	_, err := discoverHost()
	need(t, err == nil, "no cgroup filesystem: %v", err)
	mine := newT(t, Config{}) // ours, live: must survive
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=stale")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stale child: %v", err)
	}
	var paths map[string]string
	if err := json.Unmarshal(out, &paths); err != nil || len(paths) == 0 {
		t.Fatalf("stale child said %q: %v", out, err)
	}
	for _, d := range paths {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("stale cgroup not there: %v", err)
		}
	}
	// Another user's cleanup neither takes nor fails on root's stale
	// cgroup: it is not theirs.
	h, err := discoverHost()
	if err != nil {
		t.Fatal(err)
	}
	h.euid = 65534
	if removed, err := cleanup(h, 0, false); err != nil || len(removed) != 0 {
		t.Fatalf("cleanup as uid 65534 = %v, %v; want nothing and no error", removed, err)
	}
	// Too young: kept.
	removed, err := Cleanup(time.Hour)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Cleanup(1h) = %v, %v", removed, err)
	}
	removed, err = Cleanup(0)
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, d := range paths {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: stale %s not removed", ctrl, d)
		}
		found := false
		for _, r := range removed {
			found = found || r == d
		}
		if !found {
			t.Errorf("%s not in removed %v", d, removed)
		}
	}
	for _, d := range mine.Paths() {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Cleanup took our live cgroup %s", d)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestCleanupAbandoned: the cleanup a launcher runs on its own takes only
// empty cgroups of gone creators. It keeps a live launcher's empty cgroup
// (another sandboxrun between creating its cgroup and adding its child,
// which Cleanup(0) used to remove under concurrent starts) and never kills
// a process that outlived its creator on purpose.
func TestCleanupAbandoned(t *testing.T) {
	need(t, os.Geteuid() == 0, "needs root (euid %d)", os.Geteuid())
	h, err := discoverHost()
	need(t, err == nil, "no cgroup filesystem: %v", err)
	child := func(mode string) (*exec.Cmd, map[string]string) {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"="+mode)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var paths map[string]string
		if err := json.NewDecoder(out).Decode(&paths); err != nil || len(paths) == 0 {
			t.Fatalf("%s child: %v", mode, err)
		}
		return cmd, paths
	}
	exists := func(paths map[string]string) bool {
		for _, d := range paths {
			if _, err := os.Stat(d); err != nil {
				return false
			}
		}
		return true
	}
	hold, live := child("hold")
	defer func() { hold.Process.Kill(); hold.Wait() }()
	stale, gone := child("stale")
	stale.Wait()
	busyCmd, busy := child("busy")
	busyCmd.Wait()

	if _, err := cleanup(h, 0, true); err != nil {
		t.Fatal(err)
	}
	if !exists(live) {
		t.Errorf("the abandoned cleanup removed a live launcher's empty cgroup %v", live)
	}
	if !exists(busy) {
		t.Errorf("the abandoned cleanup removed a cgroup with a process that outlived its creator %v", busy)
	}
	for _, d := range gone {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the abandoned cleanup kept %s (empty, creator gone)", d)
		}
	}
	// Too young for the grace: kept even when abandoned.
	yc, young := child("stale")
	yc.Wait()
	if removed, err := CleanupAbandoned(); err != nil || !exists(young) {
		t.Errorf("CleanupAbandoned took a cgroup younger than %s: %v, %v", AbandonedGrace, removed, err)
	}
	// The explicit cleanup (sandboxrun cleanup) takes the rest, killing
	// the leftover process; the live launcher's own is then gone too.
	if _, err := cleanup(h, 0, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []map[string]string{busy, young} {
		for _, d := range p {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Cleanup(0) kept %s", d)
			}
		}
	}
}

// TestV1Devices: devices.deny "a" and then the rules, in order; a denied
// device's open fails with EPERM, an allowed one works.
func TestV1Devices(t *testing.T) {
	h := requireV1Root(t)
	need(t, h.v1["devices"].point != "", "devices controller not mounted")
	c := newT(t, Config{Resources: devRules()})
	list := strings.Fields(readFile(t, filepath.Join(c.Paths()["devices"], "devices.list")))
	got := strings.Join(list, " ")
	for _, w := range []string{"c 1:3 rwm", "c 1:5 rm", "c 136:* rwm"} {
		if !strings.Contains(got, w) {
			t.Errorf("devices.list %q lacks %q", got, w)
		}
	}
	if strings.Contains(got, "a *:* rwm") || strings.Contains(got, "c 1:11") {
		t.Errorf("devices.list %q allows more than asked", got)
	}
	checkDevOpens(t, c)
}

// TestV1DevicesNotSkipped: without delegation, BestEffort skips a memory
// limit but never the device rules.
func TestV1DevicesNotSkipped(t *testing.T) {
	h := requireV1Root(t)
	need(t, h.v1["devices"].point != "", "devices controller not mounted")
	h.euid = 1000
	h.writable = func(string) bool { return false }
	res := devRules()
	res.Memory = &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}
	c, err := newCgroup(h, Config{Resources: res, BestEffort: true})
	if err == nil {
		c.Destroy()
		t.Fatalf("BestEffort without delegation took the device rules: skipped %q", c.Skipped())
	}
	if !strings.Contains(err.Error(), "linux.resources.devices") || !errors.Is(err, ErrNoDelegation) {
		t.Errorf("err = %v, want one naming linux.resources.devices", err)
	}
	res.Devices = nil
	c, err = newCgroup(h, Config{Resources: res, BestEffort: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Skipped()) == 0 {
		t.Errorf("nothing skipped")
	}
	if err := c.Destroy(); err != nil {
		t.Error(err)
	}
}

// TestV1WriteError: a value the kernel refuses fails New with an error
// naming the file, the value and the errno (ERANGE on 6.18), and leaves
// no directory.
func TestV1WriteError(t *testing.T) {
	h := requireV1Root(t)
	need(t, h.v1["cpuset"].point != "", "cpuset controller not mounted")
	name := "nsfork-test-badcpus-" + itoa(os.Getpid())
	_, err := New(Config{Path: name, Resources: &specs.LinuxResources{
		Pids: &specs.LinuxPids{Limit: ptr[int64](10)},
		CPU:  &specs.LinuxCPU{Cpus: "9999"},
	}})
	var e *sandbox.SetupError
	var errno syscall.Errno
	if !errors.As(err, &e) || !strings.HasSuffix(e.Path, "/cpuset.cpus") || !strings.Contains(e.Op, `"9999"`) || !errors.As(err, &errno) || errno == 0 {
		t.Fatalf("err = %v, want a *sandbox.SetupError for cpuset.cpus = 9999 with the kernel's errno", err)
	}
	t.Logf("refused: %v", err)
	for _, ctrl := range []string{"cpuset", "pids", "memory", "cpu"} {
		own, ok := h.ownDir(ctrl)
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(own, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s left behind (%v)", ctrl, filepath.Join(own, name), err)
		}
	}
}
