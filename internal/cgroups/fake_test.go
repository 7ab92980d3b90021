//go:build linux

package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSharesToWeight(t *testing.T) {
	for _, c := range []struct{ shares, weight uint64 }{
		{0, 0}, {1, 1}, {2, 1}, {1024, 39}, {262144, 10000}, {1 << 20, 10000},
	} {
		if got := sharesToWeight(c.shares); got != c.weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", c.shares, got, c.weight)
		}
	}
}

func TestSwapV2(t *testing.T) {
	for _, c := range []struct {
		swap, limit *int64
		want        string
		ok, err     bool
	}{
		{nil, nil, "", false, false},
		{nil, ptr[int64](-1), "max", true, false},
		{ptr[int64](-1), ptr[int64](100), "max", true, false},
		{ptr[int64](300), ptr[int64](100), "200", true, false},
		{ptr[int64](100), ptr[int64](100), "0", true, false},
		{ptr[int64](50), ptr[int64](100), "", false, true},
		{ptr[int64](50), nil, "", false, true},
	} {
		got, ok, err := swapV2(c.swap, c.limit)
		if got != c.want || ok != c.ok || (err != nil) != c.err {
			t.Errorf("swapV2(%v, %v) = %q, %v, %v", deref(c.swap), deref(c.limit), got, ok, err)
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestCPUMax(t *testing.T) {
	for _, c := range []struct {
		q    *int64
		p    *uint64
		want string
	}{
		{ptr[int64](50000), ptr[uint64](100000), "50000 100000"},
		{ptr[int64](-1), ptr[uint64](100000), "max 100000"},
		{ptr[int64](20000), nil, "20000"},
		{nil, ptr[uint64](50000), "max 50000"},
	} {
		if got, _ := cpuMax(c.q, c.p); got != c.want {
			t.Errorf("cpuMax = %q, want %q", got, c.want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	const mi = `30 23 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 /slurm /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/name\040sys rw - cgroup cgroup rw,name=systemd
`
	v1, v2, err := parseMountinfo(strings.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	if v2 == nil || v2.point != "/sys/fs/cgroup/unified" {
		t.Errorf("v2 = %+v", v2)
	}
	if v1["cpu"].point != "/sys/fs/cgroup/cpu,cpuacct" || v1["cpuacct"].point != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Errorf("cpu: %+v", v1)
	}
	if _, ok := v1["name=systemd"]; ok {
		t.Error("named hierarchy must be ignored")
	}
	if got := dirOf(v1["memory"], "/slurm/uid_1/job_2"); got != "/sys/fs/cgroup/memory/uid_1/job_2" {
		t.Errorf("dirOf = %q", got)
	}
	if unescapeMount(`/a\040b`) != "/a b" {
		t.Error("unescape")
	}
}

// fakeV2 builds a cgroup2 tree of plain files: root, and the caller's own
// cgroup /job/step.
func fakeV2(t *testing.T, stepProcs string) (*host, string) {
	t.Helper()
	root := t.TempDir()
	all := "cpuset cpu io memory hugetlb pids rdma"
	files := map[string]string{
		"cgroup.controllers":              all,
		"cgroup.subtree_control":          all,
		"job/cgroup.controllers":          all,
		"job/cgroup.subtree_control":      all,
		"job/cgroup.procs":                "",
		"job/step/cgroup.controllers":     all,
		"job/step/cgroup.subtree_control": "",
		"job/step/cgroup.procs":           stepProcs,
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := &host{
		mode:     2,
		v2:       &mount{point: root, root: "/"},
		self:     map[string]string{"": "/job/step"},
		pid:      4242,
		euid:     0,
		procRoot: "/proc",
		fakeFS:   true,
	}
	return h, filepath.Join(root, "job/step")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fullResources() *specs.LinuxResources {
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](96 << 20), Reservation: ptr[int64](32 << 20)},
		CPU: &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			Cpus: "0", Mems: "0"},
		Pids:           &specs.LinuxPids{Limit: ptr[int64](20)},
		BlockIO:        &specs.LinuxBlockIO{Weight: ptr[uint16](500)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}},
	}
}

func TestFakeV2Writes(t *testing.T) {
	h, own := fakeV2(t, "")
	c, err := newCgroup(h, Config{Resources: fullResources()})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Paths()["unified"]
	if filepath.Dir(dir) != own || !strings.HasPrefix(filepath.Base(dir), "nsfork-4242-") {
		t.Fatalf("cgroup at %q, want a nsfork-4242-* child of %q", dir, own)
	}
	want := map[string]string{
		"memory.max":      "67108864",
		"memory.swap.max": "33554432", // OCI swap is memory+swap
		"memory.low":      "33554432",
		"cpu.weight":      "39", // 1 + (1024-2)*9999/262142
		"cpu.max":         "50000 100000",
		"cpuset.cpus":     "0",
		"cpuset.mems":     "0",
		"pids.max":        "20",
		"io.weight":       "4950", // no io.bfq.weight here: 1 + (500-10)*9999/990
		"hugetlb.2MB.max": "0",
	}
	for f, v := range want {
		if got := readFile(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if got := readFile(t, filepath.Join(own, "cgroup.subtree_control")); got != "+cpu +cpuset +memory +pids +io +hugetlb" {
		t.Errorf("own cgroup.subtree_control = %q", got)
	}
	if got := readFile(t, filepath.Join(h.v2.point, "job/cgroup.subtree_control")); got != "cpuset cpu io memory hugetlb pids rdma" {
		t.Errorf("a cgroup above the caller's own was written: %q", got)
	}
	if fd, ok := c.FD(); !ok || fd < 0 || c.Version() != 2 {
		t.Errorf("FD() = %d, %v; Version %d", fd, ok, c.Version())
	}
	if err := c.Add(4243); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "cgroup.procs")); got != "4243" {
		t.Errorf("cgroup.procs = %q", got)
	}
	os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "memory.stat"), []byte("anon 1000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("1234\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.max"), []byte("4096\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pids.events"), []byte("max 2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pids.peak"), []byte("20\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"), 0o644)
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	wantSt := Stats{MemoryPeak: 1234, MemoryLimit: 4096, MemoryLimitHit: true, OOMKills: 1, OOMKilled: true,
		CPUUsage: 1500e6, CPUUser: 1e9, CPUSystem: 500e6, PidsPeak: 20, PidsLimitHit: true}
	if *st != wantSt {
		t.Errorf("Stats = %+v\nwant %+v", *st, wantSt)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Destroy: %v", err)
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestFakeV2BFQAndRelativePath(t *testing.T) {
	h, own := fakeV2(t, "")
	// A pre-made directory standing for a BFQ kernel's io.bfq.weight.
	target := filepath.Join(own, "pre")
	res := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](500)}}
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(target, "io.bfq.weight"), nil, 0o644)
	os.WriteFile(filepath.Join(target, "cgroup.procs"), nil, 0o644)
	c, err := newCgroup(h, Config{Resources: res, Path: "pre"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(target, "io.bfq.weight")); got != "500" {
		t.Errorf("io.bfq.weight = %q, want the v1-scale 500", got)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pre-made target: %v", err)
	}

	// Intermediate directories: made, given the controllers, removed.
	c, err = newCgroup(h, Config{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}}, Path: "x/y"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(own, "x", "cgroup.subtree_control")); got != "+pids" {
		t.Errorf("x/cgroup.subtree_control = %q", got)
	}
	if got := readFile(t, filepath.Join(own, "x", "y", "pids.max")); got != "max" {
		t.Errorf("pids.max = %q", got)
	}
	// On cgroupfs a directory's files vanish with it; here they are plain files.
	os.Remove(filepath.Join(own, "x", "cgroup.subtree_control"))
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(own, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("intermediate dir left: %v", err)
	}
}

func TestFakeV2NoInternalProcesses(t *testing.T) {
	h, own := fakeV2(t, "4242\n")
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 30)}}
	_, err := newCgroup(h, Config{Resources: res})
	if !errors.Is(err, ErrNoDelegation) || !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "no-internal-process") {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(own, "nsfork-*")); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	// Accounting only needs no controller: fine even with processes.
	c, err := newCgroup(h, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c.Destroy()
	// Controllers the parent already enables: fine too.
	os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("memory pids"), 0o644)
	c, err = newCgroup(h, Config{Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	c.Destroy()
	// BestEffort skips the limit and says so.
	os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), nil, 0o644)
	c, err = newCgroup(h, Config{Resources: res, BestEffort: true})
	if err != nil || len(c.Skipped()) != 1 {
		t.Fatalf("BestEffort: %v, skipped %q", err, c.Skipped())
	}
	if _, err := os.Stat(filepath.Join(c.Paths()["unified"], "memory.max")); err == nil {
		t.Error("memory.max written despite being skipped")
	}
	c.Destroy()
}

func TestFakeV2Rootless(t *testing.T) {
	h, own := fakeV2(t, "")
	h.euid = 1000
	h.writable = func(string) bool { return false }
	res := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}
	_, err := newCgroup(h, Config{Resources: res})
	if !errors.Is(err, ErrNoDelegation) || !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "Delegate=yes") {
		t.Fatalf("err = %v", err)
	}
	c, err := newCgroup(h, Config{Resources: res, BestEffort: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Paths()) != 0 || len(c.Skipped()) == 0 || c.Add(1) != nil || c.Destroy() != nil {
		t.Errorf("BestEffort cgroup: paths %v skipped %v", c.Paths(), c.Skipped())
	}
	// Device rules are never skipped, not even with BestEffort.
	devRes := &specs.LinuxResources{Pids: res.Pids, Devices: devRules().Devices}
	if c, err := newCgroup(h, Config{Resources: devRes, BestEffort: true}); err == nil || !strings.Contains(err.Error(), "linux.resources.devices") || !errors.Is(err, unix.EACCES) {
		t.Errorf("BestEffort with device rules and no delegation: %v (skipped %v)", err, c)
	}
	// Delegated: the caller's cgroup is writable.
	h.writable = func(p string) bool { return strings.HasPrefix(p, own) }
	c, err = newCgroup(h, Config{Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	c.Destroy()
	rep := probe(h)
	if !rep.Delegated || !rep.Rootless || rep.Version != 2 {
		t.Errorf("probe = %+v", rep)
	}
}

func TestFakeV2UnavailableController(t *testing.T) {
	h, own := fakeV2(t, "")
	os.WriteFile(filepath.Join(own, "cgroup.controllers"), []byte("cpu memory"), 0o644)
	_, err := newCgroup(h, Config{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "pids") {
		t.Fatalf("err = %v", err)
	}
	_, err = newCgroup(h, Config{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr[uint64](10)}}})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("swappiness on v2: %v", err)
	}
}
