//go:build linux

package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const v2ChildEnv = "NSFORK_CGTEST_V2CHILD"

// TestV2Real runs TestV2RealChild in a child with its own mount namespace,
// where it mounts a cgroup2 filesystem of its own at a temporary directory.
func TestV2Real(t *testing.T) {
	need(t, os.Geteuid() == 0, "needs root to mount cgroup2 (euid %d)", os.Geteuid())
	cmd := exec.Command(os.Args[0], "-test.run=^TestV2RealChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), v2ChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("v2 child failed: %v", err)
	}
	if i := strings.Index(string(out), "skipped: "); i >= 0 {
		need(t, false, "%s", strings.SplitN(string(out[i+len("skipped: "):]), "\n", 2)[0])
	}
}

func TestV2RealChild(t *testing.T) {
	if os.Getenv(v2ChildEnv) != "1" {
		t.Skip("runs only as TestV2Real's child, in its own mount namespace")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make / private: %v", err)
	}
	mnt := t.TempDir()
	err := unix.Mount("none", mnt, "cgroup2", 0, "")
	need(t, err == nil, "mount cgroup2: %v", err)
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	self, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	need(t, self[""] != "", "no cgroup2 line in /proc/self/cgroup")
	h := &host{mode: 2, v2: &mount{point: mnt, root: "/"}, self: self, pid: os.Getpid(), euid: 0, procRoot: "/proc"}
	own, _ := h.ownDir("")
	offered := fields(filepath.Join(own, "cgroup.controllers"))
	t.Logf("cgroup2 at %s; our cgroup %s offers %q", mnt, self[""], offered)

	// Limits on whatever controllers this kernel gives cgroup2 here; the
	// others are bound to v1 on a hybrid host.
	res := &specs.LinuxResources{}
	want := map[string]string{}
	if slices.Contains(offered, "pids") {
		res.Pids = &specs.LinuxPids{Limit: ptr[int64](20)}
		want["pids.max"] = "20"
	} else {
		t.Log("pids.max not tested: the pids controller is not on cgroup2 here (held by v1)")
	}
	if slices.Contains(offered, "memory") {
		res.Memory = &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](64 << 20)}
		want["memory.max"] = "67108864"
		want["memory.swap.max"] = "0"
	} else {
		t.Log("memory.max not tested: the memory controller is not on cgroup2 here (held by v1)")
	}
	if slices.Contains(offered, "cpu") {
		res.CPU = &specs.LinuxCPU{Quota: ptr[int64](50000), Period: ptr[uint64](100000), Shares: ptr[uint64](1024)}
		want["cpu.max"] = "50000 100000"
		want["cpu.weight"] = "39"
	} else {
		t.Log("cpu.max not tested: the cpu controller is not on cgroup2 here (held by v1)")
	}
	if slices.Contains(offered, "hugetlb") {
		res.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}}
		want["hugetlb.2MB.max"] = "8388608"
	}
	// Enabling a controller in the root is a host-wide change: undo it.
	rootCtl := filepath.Join(mnt, "cgroup.subtree_control")
	before := fields(rootCtl)
	defer func() {
		for _, c := range fields(rootCtl) {
			if !slices.Contains(before, c) {
				_ = os.WriteFile(rootCtl, []byte("-"+c), 0)
			}
		}
	}()
	c, err := newCgroup(h, Config{Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	dir := c.Paths()["unified"]
	for f, v := range want {
		if got := strings.TrimSpace(readFile(t, filepath.Join(dir, f))); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	t.Logf("written and read back: %v", want)

	// CLONE_INTO_CGROUP through FD, and Add as the fallback.
	fd, ok := c.FD()
	if !ok {
		t.Fatal("no FD on v2")
	}
	viaFD := exec.Command("sleep", "60")
	viaFD.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := viaFD.Start(); err != nil {
		t.Fatalf("CLONE_INTO_CGROUP: %v", err)
	}
	viaAdd := exec.Command("sleep", "60")
	if err := viaAdd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(viaAdd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	wantPath := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, mnt), "/")
	for _, p := range []*exec.Cmd{viaFD, viaAdd} {
		cg, err := readProcCgroup(filepath.Join("/proc", itoa(p.Process.Pid), "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		if cg[""] != wantPath || !strings.HasPrefix(cg[""], self[""]) {
			t.Errorf("pid %d in %q, want %q", p.Process.Pid, cg[""], wantPath)
		}
	}
	if _, err := c.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}
	hasKill := exists(filepath.Join(dir, "cgroup.kill"))
	t.Logf("cgroup.kill present: %v", hasKill)
	start := time.Now()
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Destroy took %v", time.Since(start))
	for _, p := range []*exec.Cmd{viaFD, viaAdd} {
		_ = p.Wait()
		if ws, _ := p.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("pid %d not killed: %v", p.Process.Pid, p.ProcessState)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left: %v", dir, err)
	}
	if _, ok := c.FD(); ok {
		t.Error("FD still open after Destroy")
	}

	// The eBPF device filter, live.
	dc, err := newCgroup(h, Config{Resources: devRules()})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Destroy()
	checkDevOpens(t, dc)
	if err := dc.Destroy(); err != nil {
		t.Fatal(err)
	}
}
