package integration

// Fault injection on setup: each fault gives a clear error, and nothing is
// left behind: no child process, no cgroup, no mount.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("fault.fill", faultFill)
	fork.RegisterFunc("fault.exec", faultExec)
}

// nothingLeft checks that no child process, cgroup or mount of ours is
// left, against a snapshot taken before the fault.
func nothingLeft(t *testing.T, before *leftovers) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for len(childrenOf(os.Getpid())) > len(before.Children) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	checkNoLeftovers(t, before, snapshot(t))
}

// baseline runs one sandbox, so that what the launcher makes once per
// process (the sealed copy of the binary, spawner threads) is there
// already, and takes a snapshot.
func baseline(t *testing.T) *leftovers {
	t.Helper()
	if v, err := fork.Call[int](context.Background(), "adv.nop", sandbox.Default()); err != nil || v != 42 {
		t.Fatalf("warm-up sandbox: %v %v", v, err)
	}
	return snapshot(t)
}

// withPidsCgroup gives o a cgroup as root, so that its removal is checked
// too; rootless callers here have no delegated cgroup.
func withPidsCgroup(o *sandbox.Options, limit int64) *sandbox.Options {
	if root() {
		o.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(limit)}}
	}
	return o
}

// TestFaultRootfs: a root file system that is missing, a file, a dangling
// symlink or a symlink to a file is refused by ForkIsolated itself, naming
// root.path, before any process or cgroup exists.
func TestFaultRootfs(t *testing.T) {
	dir := tempDir(t)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling"))
	os.Symlink(file, filepath.Join(dir, "tofile"))
	for _, root := range []string{filepath.Join(dir, "missing"), file, filepath.Join(dir, "dangling"), filepath.Join(dir, "tofile")} {
		before := baseline(t)
		opts := withPidsCgroup(sandbox.Default(), 10)
		opts.Root = &specs.Root{Path: root}
		p, err := new(fork.Config).Start(context.Background(), "adv.nop", opts)
		if err == nil {
			p.Wait()
			t.Errorf("root %s: started", root)
			continue
		}
		var se *sandbox.Error
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "root.path") || !errors.Is(err, sandbox.ErrInvalid) {
			t.Errorf("root %s: %v (%T), want a *sandbox.Error naming root.path", root, err, err)
		}
		if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("root %s: not a one-line message: %q", root, err)
		}
		nothingLeft(t, before)
	}
}

func faultFill(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 64<<10)
	for n < 64<<20 {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestFaultENOSPC: a 256 KiB tmpfs mounted for the sandbox fills up; the
// function gets ENOSPC (and the parent sees it, errno intact), and the
// tmpfs is gone with the sandbox: nothing in the caller's mount table or
// in the directory it covered.
func TestFaultENOSPC(t *testing.T) {
	dir := tempDir(t)
	before := baseline(t)
	opts := sandbox.Default()
	opts.Mounts = []specs.Mount{{Destination: dir, Type: "tmpfs", Source: "tmpfs", Options: []string{"size=256k"}}}
	_, err := fork.Call[int64](context.Background(), "fault.fill", opts, filepath.Join(dir, "fill"))
	var se *fork.SetupError
	if errors.As(err, &se) {
		require(t, false, fmt.Sprintf("a tmpfs mount on the host root cannot be set up yet: %v", err))
	}
	var re *fork.RemoteError
	if !errors.As(err, &re) || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("got %v (%T), want the function's ENOSPC", err, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the sandbox's tmpfs wrote through to the host directory: %v", ents)
	}
	nothingLeft(t, before)
}

func faultExec() (string, error) {
	err := exec.Command("/bin/true").Run()
	return errnoString(err), err
}

// TestFaultPidsLimit (root mode; rootless has no delegated cgroup here, see
// cgroupLimitsAvailable): with a pids limit of 1 the sandbox cannot start
// another task. Either the function runs and its exec fails with EAGAIN, or
// the Go runtime cannot make the threads it needs before the function runs;
// both give an error, the usage says the limit was hit, and the cgroup is
// gone afterwards.
func TestFaultPidsLimit(t *testing.T) {
	onlyRoot(t)
	before := baseline(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := new(fork.Config).Start(ctx, "fault.exec", withPidsCgroup(sandbox.Default(), 1))
	if err != nil {
		t.Fatal(err)
	}
	// While it runs the cgroup exists where ourCgroups looks (so that the
	// check below means something), unless it has already ended.
	seen := ourCgroups()
	err = p.Wait()
	if ctx.Err() != nil {
		t.Fatalf("hung until the context ended: %v", err)
	}
	t.Logf("error %v; usage %+v; cgroups while running %v", err, p.Usage(), seen)
	var re *fork.RemoteError
	var ee *fork.ExitError
	switch {
	case errors.As(err, &re):
		if !errors.Is(err, unix.EAGAIN) {
			t.Errorf("the function's exec failed with %v, want EAGAIN", err)
		}
	case errors.As(err, &ee):
		if u := p.Usage(); u == nil || !u.PidsLimitHit {
			t.Errorf("the child died (%v) and the usage does not say the pids limit was hit: %+v", err, p.Usage())
		}
	default:
		t.Errorf("got %v (%T), want the function's EAGAIN or an exit error", err, err)
	}
	nothingLeft(t, before)
}

// TestFaultCgroupSeen: the cgroup check used above finds a sandbox's
// cgroup while it runs (otherwise "no cgroup left" would prove nothing).
func TestFaultCgroupSeen(t *testing.T) {
	onlyRoot(t)
	r, w, _ := os.Pipe()
	defer r.Close()
	c := &fork.Config{Stdout: w}
	p, err := c.StartCommand(context.Background(), withPidsCgroup(sandbox.Default(), 10), "/bin/sh", "-c", "echo up; read x")
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	r.Read(buf)
	seen := ourCgroups()
	p.Kill()
	p.Wait()
	if len(seen) == 0 {
		t.Fatal("no nsfork cgroup found while the sandbox ran")
	}
	if left := ourCgroups(); len(left) > 0 {
		t.Fatalf("cgroups left after Wait: %v", left)
	}
}

// kernelRejectedMap is a uid map that Validate accepts (at most 340
// lines, no overlap, in range, the caller's own ids or subordinate ones)
// but that the kernel refuses: written out it is longer than the one page
// the kernel takes in a single write to uid_map.
func kernelRejectedMap(t *testing.T) []specs.LinuxIDMapping {
	t.Helper()
	if root() {
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1500000000, Size: 1}}
		for i := range uint32(200) {
			m = append(m, specs.LinuxIDMapping{ContainerID: 1000000000 + i, HostID: 2000000000 + i, Size: 1})
		}
		return m
	}
	ranges, _ := sandbox.LookupSubIDs("", os.Geteuid(), sandbox.SubUIDFile)
	if len(ranges) == 0 {
		ranges, _ = sandbox.LookupSubIDs("nobody", -1, sandbox.SubUIDFile)
	}
	_, err := exec.LookPath("newuidmap")
	require(t, len(ranges) > 0 && ranges[0].Size >= 339 && err == nil, "needs 339 subordinate uids for this user and newuidmap (Debian uidmap)")
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	for i := range uint32(339) {
		m = append(m, specs.LinuxIDMapping{ContainerID: 1000000 + i, HostID: ranges[0].Start + i, Size: 1})
	}
	return m
}

// TestFaultUIDMapRejected: the kernel (root: written by the parent; rootless:
// by newuidmap) refuses the uid map; ForkIsolated fails with an error that
// says it was the uid map, and no process or cgroup is left.
func TestFaultUIDMapRejected(t *testing.T) {
	m := kernelRejectedMap(t)
	opts := withPidsCgroup(sandbox.Default().WithNamespaces(specs.UserNamespace), 10)
	opts.UIDMappings = m
	if !root() {
		// The gid map stays the caller's own: only the uid map is at fault.
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	}
	if err := opts.Validate(); err != nil {
		t.Logf("Validate refuses the map (good, the kernel would too): %v", err)
		return
	}
	before := baseline(t)
	p, err := new(fork.Config).Start(context.Background(), "adv.nop", opts)
	if err == nil {
		err = p.Wait()
	}
	if err == nil {
		t.Fatalf("a %d-line uid map the kernel refuses was accepted", len(m))
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "uid_map") && !strings.Contains(err.Error(), "newuidmap") && !strings.Contains(err.Error(), "uidMappings") {
		t.Errorf("the error does not say the uid map was refused: %v", err)
	}
	nothingLeft(t, before)
}

func listDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}

func init() { fork.RegisterFunc("listDir", listDir) }

// TestFaultBindSourceRemovedMidSetup: the bind source disappears right
// after the parent validated it, while the child sets up. Each run either
// mounts what was opened before the removal or fails with a mount step
// error naming the errno; nothing is left mounted or running either way.
func TestFaultBindSourceRemovedMidSetup(t *testing.T) {
	before := mountinfoLines(t)
	for i := range 20 {
		src := tempDir(t) + "/src"
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		o := sandbox.Default()
		o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}
		p, err := new(fork.Config).Start(context.Background(), "listDir", o, "/mnt")
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		os.Remove(src)
		err = p.Wait()
		var se *fork.SetupError
		if err != nil && (!errors.As(err, &se) || se.Step != "mount" || se.Errno == 0) {
			t.Fatalf("run %d: %v, want success or a mount step error with an errno", i, err)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.Pid)); err == nil {
			t.Fatalf("run %d: child %d still alive", i, p.Pid)
		}
	}
	if after := mountinfoLines(t); after != before {
		t.Fatalf("mountinfo had %d lines, now %d", before, after)
	}
}

func mountinfoLines(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
