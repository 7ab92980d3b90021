package fork

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

func init() { RegisterFunc("credState", credState) }

// credState is what a sandboxed function holds of credentials: each
// thread's ids, groups, capability sets, no_new_privs and seccomp mode
// (threadStates' distinct states, sorted: every thread should have the
// same), the
// namespace's maps with their host ids left out (a leased range may differ
// from start to start) and whether a host id of 0 is among them, and
// setgroups.
func credState() (string, error) {
	states := threadStates()
	slices.Sort(states)
	out := strings.Join(states, "\n  | ")
	for _, f := range []string{"uid_map", "gid_map"} {
		b, err := os.ReadFile("/proc/self/" + f)
		if err != nil {
			return "", err
		}
		hostRoot := false
		var inside []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fs := strings.Fields(l)
			if len(fs) != 3 {
				return "", fmt.Errorf("%s: %q", f, l)
			}
			// A range from host id 0 maps host root.
			hostRoot = hostRoot || (fs[1] == "0" && fs[2] != "0")
			inside = append(inside, fs[0]+"+"+fs[2])
		}
		out += fmt.Sprintf("\n  %s inside %v host 0 mapped %v", f, inside, hostRoot)
	}
	sg, err := os.ReadFile("/proc/self/setgroups")
	if err != nil {
		return "", err
	}
	dumpable, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return "", err
	}
	var pdeath int32
	if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&pdeath)), 0, 0, 0); err != nil {
		return "", err
	}
	return out + "\n  setgroups " + strings.TrimSpace(string(sg)) + fmt.Sprintf("\n  dumpable %d pdeathsig %d", dumpable, pdeath), nil
}

// TestMapsAfterSameCredentials: a start whose maps come after the exec
// (the vfork start, mapsafter_linux.go) gives the sandboxed function the
// credentials a start with the maps before the exec gives it, on every
// thread, for each preset this caller can start, with and without
// capabilities in the options. The fork start is the reference; the test
// also checks that the plan did take the new start, so that it cannot
// pass by comparing the old start with itself.
func TestMapsAfterSameCredentials(t *testing.T) {
	noCaps := func() *sandbox.Options { o := sandbox.Rootless(); o.Capabilities = nil; return o }
	presets := []struct {
		name string
		opts func() *sandbox.Options
	}{
		{"Default", sandbox.Default},
		{"Rootless", sandbox.Rootless},
		{"Root", sandbox.Root},
		{"Rootless without Capabilities", noCaps},
	}
	ran := 0
	for _, pr := range presets {
		t.Run(pr.name, func(t *testing.T) {
			plan, err := planIsolation(pr.opts())
			if err != nil {
				t.Skipf("%s cannot start here: %v", pr.name, err) // the caller's kind decides, not the machine
			}
			plan.planMapsAfter(nil)
			if !plan.mapsAfter {
				t.Fatalf("%s: the plan writes the maps before the exec (mapsAfter false): the start this test is about is not used", pr.name)
			}
			state := func(after bool) string {
				defer func(v bool) { mapsAfterStart = v }(mapsAfterStart)
				mapsAfterStart = after
				got, err := Call[string](context.Background(), "credState", pr.opts())
				if err != nil {
					t.Fatalf("mapsAfterStart=%v: %v", after, err)
				}
				return got
			}
			before, after := state(false), state(true)
			if before != after {
				t.Errorf("credentials differ:\n maps before the exec (fork):\n  %s\n maps after the exec (vfork):\n  %s", before, after)
			}
			if strings.Contains(after, "\n  | ") {
				t.Errorf("the threads do not share their credentials:\n  %s", after)
			}
			if strings.Contains(after, "host 0 mapped true") {
				t.Errorf("host id 0 is mapped into the sandbox:\n  %s", after)
			}
			for _, set := range []string{"CapAmb:", "CapInh:"} {
				i := strings.Index(after, set)
				if i < 0 || !strings.HasPrefix(after[i:], set+" 0000000000000000") {
					t.Errorf("%s is not empty in the function:\n  %s", set, after)
				}
			}
			ran++
		})
	}
	if ran == 0 {
		t.Fatal("no preset could start here")
	}
}

// TestStartSharesMemory: a start into a new user namespace no longer
// forks the caller. After a fork every private page of the caller is
// copy-on-write, and the first write to each afterwards is a page fault;
// after a start that shares the caller's memory until the exec, none is.
// The fork start is the control: without it the count could not tell.
func TestStartSharesMemory(t *testing.T) {
	const pages = 4096 // 16 MiB
	size := pages * os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	// 4 KiB pages: a huge page takes one fault for 512 of them.
	if err := unix.Madvise(mem, unix.MADV_NOHUGEPAGE); err != nil {
		t.Fatal(err)
	}
	touch := func() {
		for i := 0; i < size; i += os.Getpagesize() {
			mem[i]++
		}
	}
	faultsAfterStart := func(after bool) int64 {
		defer func(v bool) { mapsAfterStart = v }(mapsAfterStart)
		mapsAfterStart = after
		touch()
		if err := runNoop(sandbox.Default()); err != nil {
			t.Fatalf("mapsAfterStart=%v: %v", after, err)
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r0, r1 syscall.Rusage
		syscall.Getrusage(unix.RUSAGE_THREAD, &r0)
		touch()
		syscall.Getrusage(unix.RUSAGE_THREAD, &r1)
		return r1.Minflt - r0.Minflt
	}
	forked := faultsAfterStart(false)
	shared := faultsAfterStart(true)
	t.Logf("faults writing %d pages after a start: %d after the fork start, %d after the start sharing memory", pages, forked, shared)
	if forked < pages/2 {
		t.Fatalf("control failed: after a fork start writing %d pages took only %d faults (the measurement cannot tell the starts apart here)", pages, forked)
	}
	if shared > pages/16 {
		t.Fatalf("after the start with the maps after the exec writing %d pages took %d faults: the caller was forked", pages, shared)
	}
}

// TestMapsAfterWriteFails: when the parent cannot write the maps, the
// launch fails with an error naming the step, the operation, the file and
// the errno, and the child is gone. The test writes the uid map first
// (through the hook between the start and the parent's steps), so the
// parent's own write is refused (a map is written once).
func TestMapsAfterWriteFails(t *testing.T) {
	var child int
	testHookAfterStart = func(pid int) {
		child = pid
		os.WriteFile(fmt.Sprintf("/proc/%d/uid_map", pid), []byte(fmt.Sprintf("0 %d 1\n", os.Geteuid())), 0)
	}
	defer func() { testHookAfterStart = nil }()
	err := runNoop(sandbox.Default())
	var se *SetupError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *SetupError", err)
	}
	want := fmt.Sprintf("/proc/%d/uid_map", child)
	if se.Step != "idmap" || se.Path != want || se.Errno != syscall.EPERM || !strings.Contains(se.Op, "write") {
		t.Fatalf("got step %q op %q path %q errno %v (%v), want step idmap, a write of %s, EPERM", se.Step, se.Op, se.Path, se.Errno, err, want)
	}
	if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the child %d is still there after the failed launch (kill 0: %v)", child, err)
	}
}

func runNoop(o *sandbox.Options) error {
	p, err := ForkIsolated("noop", o)
	if err != nil {
		return err
	}
	return p.Wait()
}

// TestMapsAfterNotWithOwnIDs: a caller whose own SysProcAttr asks the
// syscall package for ids or maps before the exec keeps the fork start: a
// start that suspends the caller until the exec would wait forever for
// maps only the suspended caller could write.
func TestMapsAfterNotWithOwnIDs(t *testing.T) {
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
	for name, own := range map[string]*syscall.SysProcAttr{
		"Credential":          {Credential: &syscall.Credential{}},
		"UidMappings":         {UidMappings: m},
		"GidMappings":         {GidMappings: m},
		"Unshareflags userns": {Unshareflags: syscall.CLONE_NEWUSER},
		"none":                nil,
	} {
		plan, err := planIsolation(sandbox.Default())
		if err != nil {
			t.Fatal(err)
		}
		plan.planMapsAfter(own)
		var a syscall.SysProcAttr
		plan.apply(&a)
		vfork := a.Cloneflags&unix.CLONE_VFORK != 0
		if want := own == nil; plan.mapsAfter != want || vfork != want {
			t.Errorf("%s: mapsAfter %v, CLONE_VFORK %v, want %v", name, plan.mapsAfter, vfork, want)
		}
	}
}

// TestMapsAfterSameOutcome (red team): more option sets than the presets
// of TestMapsAfterSameCredentials, each started with the maps before the
// exec (the fork start, the reference) and after it: both starts must
// succeed or fail alike, and a function that runs must hold the same
// credentials, dumpable flag and parent-death signal. Option sets this
// caller cannot start, or whose plan keeps the fork start, have nothing
// to compare (the plan decides, not the machine).
func TestMapsAfterSameOutcome(t *testing.T) {
	five := 5
	sets := []struct {
		name string
		opts func() *sandbox.Options
	}{
		{"user and pid namespaces only, no Capabilities", func() *sandbox.Options {
			return &sandbox.Options{Namespaces: nsTypes(specs.UserNamespace, specs.PIDNamespace)}
		}},
		{"user namespace only, no Capabilities", func() *sandbox.Options {
			return &sandbox.Options{Namespaces: nsTypes(specs.UserNamespace)}
		}},
		{"user, pid and mount namespaces, no Capabilities", func() *sandbox.Options {
			return &sandbox.Options{Namespaces: nsTypes(specs.UserNamespace, specs.PIDNamespace, specs.MountNamespace)}
		}},
		{"Default with rlimits, keyring, oom score", func() *sandbox.Options {
			o := sandbox.Default()
			o.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 64, Hard: 64}}
			o.NewSessionKeyring = true
			o.OOMScoreAdj = &five
			return o
		}},
		{"Default as user 1000 with additional gids", func() *sandbox.Options {
			o := sandbox.Default()
			o.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 6}}
			return o
		}},
		{"Default as uid 1000 gid 0", func() *sandbox.Options {
			o := sandbox.Default()
			o.User = specs.User{UID: 1000, GID: 0}
			return o
		}},
		{"Default with a time namespace", func() *sandbox.Options {
			o := sandbox.Default().WithNamespaces(specs.TimeNamespace)
			o.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1000}}
			return o
		}},
		{"Rootless with subordinate ids (newuidmap's maps)", func() *sandbox.Options {
			o := sandbox.Rootless()
			o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
			o.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
			return o
		}},
		{"Default with late cgroup and ipc namespaces, no Capabilities", func() *sandbox.Options {
			o := sandbox.Default().WithNamespaces(specs.CgroupNamespace)
			o.Capabilities = nil
			return o
		}},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			plan, err := planIsolation(set.opts())
			if err != nil {
				t.Logf("refused for this caller, nothing to compare: %v", err) // the caller's kind decides
				return
			}
			plan.planMapsAfter(nil)
			if !plan.mapsAfter && !plan.vfork {
				t.Logf("the plan keeps the fork start, nothing to compare")
				return
			}
			state := func(after bool) (string, error) {
				defer func(v bool) { mapsAfterStart = v }(mapsAfterStart)
				mapsAfterStart = after
				return Call[string](context.Background(), "credState", set.opts())
			}
			before, errBefore := state(false)
			after, errAfter := state(true)
			if (errBefore == nil) != (errAfter == nil) {
				t.Fatalf("the starts differ: maps before the exec: %v, after: %v", errBefore, errAfter)
			}
			if errBefore != nil {
				t.Logf("both starts fail alike: %v", errBefore)
				return
			}
			if before != after {
				t.Errorf("credentials differ:\n maps before the exec (fork):\n  %s\n maps after the exec (vfork):\n  %s", before, after)
			}
			for _, s := range []string{"CapAmb:", "CapInh:"} {
				i := strings.Index(after, s)
				if i < 0 || !strings.HasPrefix(after[i:], s+" 0000000000000000") {
					t.Errorf("%s is not empty in the function:\n  %s", s, after)
				}
			}
		})
	}
}

func nsTypes(types ...specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var ns []specs.LinuxNamespace
	for _, t := range types {
		ns = append(ns, specs.LinuxNamespace{Type: t})
	}
	return ns
}

// TestMapsAfterPooledSameCredentials (red team): a pooled child, whose
// request comes at its start and whose call comes later, holds in its
// call the credentials a fork start's pooled child holds.
func TestMapsAfterPooledSameCredentials(t *testing.T) {
	state := func(after bool) string {
		defer func(v bool) { mapsAfterStart = v }(mapsAfterStart)
		mapsAfterStart = after
		plan, err := planIsolation(sandbox.Default())
		if err != nil {
			t.Fatal(err)
		}
		plan.planMapsAfter(nil)
		if plan.mapsAfter != after {
			t.Fatalf("mapsAfterStart=%v: the plan's mapsAfter is %v", after, plan.mapsAfter)
		}
		pool, err := NewPool(sandbox.Default(), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		res, err := pool.Call(context.Background(), "credState")
		if err != nil {
			t.Fatalf("mapsAfterStart=%v: %v", after, err)
		}
		return res[0].(string)
	}
	before, after := state(false), state(true)
	if before != after {
		t.Errorf("credentials differ:\n maps before the exec (fork):\n  %s\n maps after the exec (vfork):\n  %s", before, after)
	}
}

// TestMapsAfterCancelBeforeMaps (red team): a context cancelled between
// the child's exec and its maps ends the launch with an error and leaves
// no child (it never runs unmapped past its start).
func TestMapsAfterCancelBeforeMaps(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var child int
	testHookAfterStart = func(pid int) {
		child = pid
		cancel()
		// Until os/exec's watcher has killed it: a zombie.
		for i := 0; i < 2000; i++ {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				return
			}
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	defer func() { testHookAfterStart = nil }()
	plan, err := planIsolation(sandbox.Default())
	if err != nil {
		t.Fatal(err)
	}
	if plan.planMapsAfter(nil); !plan.mapsAfter {
		t.Fatal("the plan keeps the fork start")
	}
	_, err = Call[string](ctx, "credState", sandbox.Default())
	if err == nil {
		t.Fatal("a launch cancelled before the maps returned no error")
	}
	t.Logf("launch cancelled before the maps: %v", err)
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "fork.Init") {
		t.Errorf("the error does not say the launch was cancelled, or blames fork.Init: %v", err)
	}
	if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the child %d is still there after the cancelled launch (kill 0: %v)", child, err)
	}
}

// TestMapsAfterBaseAttr (red team): end to end beside
// TestMapsAfterNotWithOwnIDs (the plan): Config.SysProcAttr is a base the
// launcher adds its own settings to, and the fork start replaced the
// base's id maps and, for root inside, its credential with the sandbox's;
// a start of the sandboxed function with such a base returns (a vfork
// start would wait forever for the maps) with the fork start's
// credentials.
func TestMapsAfterBaseAttr(t *testing.T) {
	bases := []struct {
		name string
		attr *syscall.SysProcAttr
	}{
		{"credential 0 0", &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0}}},
		{"uid and gid maps", &syscall.SysProcAttr{
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		}},
	}
	for _, b := range bases {
		t.Run(b.name, func(t *testing.T) {
			run := func(after bool) (string, error) {
				defer func(v bool) { mapsAfterStart = v }(mapsAfterStart)
				mapsAfterStart = after
				a := *b.attr
				c := &Config{SysProcAttr: &a}
				p, err := c.Start(context.Background(), "credState", sandbox.Default())
				if err != nil {
					return "", err
				}
				if err := p.Wait(); err != nil {
					return "", err
				}
				return p.Results()[0].(string), nil
			}
			before, errBefore := run(false)
			var after string
			var errAfter error
			done := make(chan struct{})
			go func() { after, errAfter = run(true); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				// A deadlock, not a slow start: the syscall package's child
				// waiting for maps from a parent CLONE_VFORK holds.
				t.Fatal("the start with the maps after the exec has not returned in a minute")
			}
			if (errBefore == nil) != (errAfter == nil) || before != after {
				t.Errorf("the starts differ:\n maps before the exec: %v\n  %s\n maps after the exec: %v\n  %s", errBefore, before, errAfter, after)
			}
		})
	}
}

// TestSetupNeverUnmappedIDs (red team): with a uid map that leaves 0
// inside unmapped and a user whose gid is 0, the child had no credential
// before its exec and ran its setup with the caller's ids, host root's
// for a root caller, which its namespace does not map: the minimal /dev
// failed (EOVERFLOW). It now runs the setup as the user's ids, as for a
// user with neither id 0.
func TestSetupNeverUnmappedIDs(t *testing.T) {
	testreq.RootOnly(t, "maps of ids other than the caller's own")
	o := sandbox.Default()
	o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 301000, Size: 1}}
	o.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	o.User = specs.User{UID: 1000, GID: 0}
	got, err := Call[string](context.Background(), "credState", o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "Uid: 1000 1000 1000 1000") || !strings.Contains(got, "Gid: 0 0 0 0") {
		t.Fatalf("the function's ids:\n  %s", got)
	}
}

// TestMapsAfterNotWithCallerInheritable: options that leave the capability
// sets as the start gives them keep the fork start when the caller's
// thread has an inheritable set (the child, which clears the set the
// carry raised, could not know what to restore); with an empty one, or
// with Capabilities in the options, the start shares memory.
func TestMapsAfterNotWithCallerInheritable(t *testing.T) {
	noCaps := sandbox.Rootless()
	noCaps.Capabilities = nil
	plan := func(o *sandbox.Options) bool {
		p, err := planIsolation(o)
		if err != nil {
			t.Fatal(err)
		}
		p.planMapsAfter(nil)
		return p.mapsAfter
	}
	if !plan(noCaps) || !plan(sandbox.Rootless()) {
		t.Fatal("with an empty inheritable set the start still forks")
	}
	testreq.RootOnly(t, "raising the inheritable set needs the capability in the permitted set")
	got := make(chan [2]bool, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, its raised
		// set with it.
		runtime.LockOSThread()
		c, err := capability.NewPid2(0)
		if err == nil {
			err = c.Load()
		}
		if err == nil {
			c.Set(capability.INHERITABLE, capability.CAP_CHOWN)
			err = c.Apply(capability.CAPS)
		}
		if err != nil {
			t.Error(err)
			got <- [2]bool{true, true}
			return
		}
		got <- [2]bool{plan(noCaps), plan(sandbox.Rootless())}
	}()
	r := <-got
	if r[0] {
		t.Error("a caller with CAP_CHOWN inheritable and options without Capabilities: the start shares memory")
	}
	if !r[1] {
		t.Error("with Capabilities in the options the caller's inheritable set decides nothing, yet the start forks")
	}
}
