package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

var nsNames = []string{"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"}

func nsLinks() map[string]string {
	out := map[string]string{}
	for _, n := range nsNames {
		l, _ := os.Readlink("/proc/self/ns/" + n)
		out[n] = l
	}
	return out
}

// Inside is what a probe function sees of its sandbox.
type Inside struct {
	NS               map[string]string
	Pid, Ppid, Sid   int
	UID, GID         int
	Groups           []int
	UIDMap, GIDMap   string
	Hostname, Domain string
	LoopbackUp       bool
	NoFile           [2]uint64
	NoFileExec       string
	Threads          []map[string]string
	FDs              []string
	Env              []string
	Cwd              string
	Setgroups        string
}

var threadFields = []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"}

// blockThreads starts n goroutines, each on its own OS thread, blocked in a
// read(2) that only ends when the returned func is called.
func blockThreads(n int) func() {
	r, w, _ := os.Pipe()
	var ready, done sync.WaitGroup
	for range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			ready.Done()
			var b [1]byte
			syscall.Read(int(r.Fd()), b[:])
		}()
	}
	ready.Wait()
	return func() {
		w.Close()
		done.Wait()
		r.Close()
	}
}

func threadStatus() []map[string]string {
	tasks, _ := os.ReadDir("/proc/self/task")
	var out []map[string]string
	for _, t := range tasks {
		m, err := statusFields("/proc/self/task/"+t.Name()+"/status", threadFields...)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

func probe(withThreads int) (*Inside, error) {
	in := &Inside{NS: nsLinks(), Pid: os.Getpid(), Ppid: os.Getppid(), UID: os.Getuid(), GID: os.Getgid()}
	in.Sid, _ = unix.Getsid(0)
	in.Groups, _ = os.Getgroups()
	b, _ := os.ReadFile("/proc/self/uid_map")
	in.UIDMap = string(b)
	b, _ = os.ReadFile("/proc/self/gid_map")
	in.GIDMap = string(b)
	b, _ = os.ReadFile("/proc/self/setgroups")
	in.Setgroups = strings.TrimSpace(string(b))
	var uts unix.Utsname
	unix.Uname(&uts)
	in.Hostname = unix.ByteSliceToString(uts.Nodename[:])
	in.Domain = unix.ByteSliceToString(uts.Domainname[:])
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			if i.Name == "lo" && i.Flags&net.FlagUp != 0 {
				in.LoopbackUp = true
			}
		}
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	in.NoFile = [2]uint64{rl.Cur, rl.Max}
	if out, err := exec.Command("/bin/sh", "-c", "ulimit -n; ulimit -Hn").Output(); err == nil {
		in.NoFileExec = strings.Join(strings.Fields(string(out)), " ")
	}
	if withThreads > 0 {
		release := blockThreads(withThreads)
		time.Sleep(50 * time.Millisecond)
		in.Threads = threadStatus()
		release()
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		in.FDs = append(in.FDs, e.Name()+" -> "+l)
	}
	in.Env = os.Environ()
	in.Cwd, _ = os.Getwd()
	return in, nil
}

func init() {
	fork.RegisterFunc("probe", probe)
}

func runProbe(t *testing.T, opts *sandbox.Options, threads int) *Inside {
	t.Helper()
	in, err := fork.Call[*Inside](context.Background(), "probe", opts, threads)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	return in
}

func TestNamespacesAllNew(t *testing.T) {
	opts := sandbox.Default().WithNamespaces(specs.NetworkNamespace, specs.CgroupNamespace, specs.TimeNamespace)
	opts.Hostname, opts.Domainname = "box", "example.test"
	in := runProbe(t, opts, 0)
	host := nsLinks()
	for _, n := range nsNames {
		if n == "user" && root() {
			continue // the root preset has no user namespace
		}
		if in.NS[n] == "" || in.NS[n] == host[n] {
			t.Errorf("%s namespace not new: inside %q, host %q", n, in.NS[n], host[n])
		}
	}
	if in.Pid != 1 {
		t.Errorf("pid %d, want 1 in a new pid namespace", in.Pid)
	}
	if in.Hostname != "box" || in.Domain != "example.test" {
		t.Errorf("uts: %q %q", in.Hostname, in.Domain)
	}
	if !in.LoopbackUp {
		t.Errorf("loopback is down in the new network namespace")
	}
	if in.Sid != in.Pid {
		t.Errorf("not a session leader: sid %d pid %d", in.Sid, in.Pid)
	}
}

func TestNoIsolationSharesNamespaces(t *testing.T) {
	in := runProbe(t, &sandbox.Options{}, 0)
	host := nsLinks()
	for _, n := range nsNames {
		if in.NS[n] != host[n] {
			t.Errorf("%s namespace differs with empty options: %q vs %q", n, in.NS[n], host[n])
		}
	}
}

// TestJoinByPath joins the network, uts and ipc namespaces of a holder
// process (root: joining needs CAP_SYS_ADMIN over the target).
func TestJoinByPath(t *testing.T) {
	if !root() {
		// Rootless: refused before anything starts, and it says why.
		opts := sandbox.Rootless()
		opts.Namespaces = append(opts.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"})
		_, err := new(fork.Config).Start(context.Background(), "probe", opts, 0)
		if err == nil || !strings.Contains(err.Error(), "namespaces") {
			t.Fatalf("rootless join: %v", err)
		}
		return
	}
	holder := exec.Command("unshare", "--net", "--uts", "--ipc", "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	var want map[string]string
	for range 100 { // wait for unshare to exec sleep
		time.Sleep(10 * time.Millisecond)
		want = map[string]string{}
		for _, n := range []string{"net", "uts", "ipc"} {
			want[n], _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", holder.Process.Pid, n))
		}
		if want["net"] != nsLinks()["net"] {
			break
		}
	}
	opts := &sandbox.Options{}
	for _, n := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.UTSNamespace, specs.IPCNamespace} {
		file := map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: "net", specs.UTSNamespace: "uts", specs.IPCNamespace: "ipc"}[n]
		opts.Namespaces = append(opts.Namespaces, specs.LinuxNamespace{Type: n, Path: fmt.Sprintf("/proc/%d/ns/%s", holder.Process.Pid, file)})
	}
	in := runProbe(t, opts, 0)
	for n, w := range want {
		if in.NS[n] != w {
			t.Errorf("%s: joined %q, want %q", n, in.NS[n], w)
		}
	}
	// Joining a mount namespace is refused with ErrUnsupported.
	opts = &sandbox.Options{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)}}}
	if _, err := new(fork.Config).Start(context.Background(), "probe", opts, 0); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("mount join: %v", err)
	}
}

func TestIDMapsRootless(t *testing.T) {
	onlyRootless(t)
	in := runProbe(t, sandbox.Rootless(), 0)
	want := fmt.Sprintf("0 %d 1", os.Geteuid())
	if strings.Join(strings.Fields(in.UIDMap), " ") != want || in.UID != 0 || in.Setgroups != "deny" {
		t.Fatalf("uid_map %q uid %d setgroups %q, want %q, 0, deny", in.UIDMap, in.UID, in.Setgroups, want)
	}
}

// TestIDMapsSubordinate maps a whole range through newuidmap/newgidmap
// (rootless) or directly (root) and runs as 1000:1000 with extra groups.
func TestIDMapsSubordinate(t *testing.T) {
	opts := sandbox.Default()
	opts.WithNamespaces(specs.UserNamespace)
	if root() {
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	} else {
		ranges, _ := sandbox.LookupSubIDs("nobody", os.Geteuid(), sandbox.SubUIDFile)
		granges, _ := sandbox.LookupSubIDs("nobody", os.Geteuid(), sandbox.SubGIDFile)
		_, err := exec.LookPath("newuidmap")
		require(t, len(ranges) > 0 && len(granges) > 0 && err == nil, "needs /etc/subuid and /etc/subgid ranges for this user and newuidmap (Debian uidmap)")
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}, {ContainerID: 1, HostID: ranges[0].Start, Size: min(ranges[0].Size, 65535)}}
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}, {ContainerID: 1, HostID: granges[0].Start, Size: min(granges[0].Size, 65535)}}
	}
	opts.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{27, 100}}
	in := runProbe(t, opts, 0)
	if in.UID != 1000 || in.GID != 1000 {
		t.Errorf("ids %d:%d, want 1000:1000", in.UID, in.GID)
	}
	sort.Ints(in.Groups)
	if fmt.Sprint(in.Groups) != "[27 100]" {
		t.Errorf("groups %v, want [27 100]", in.Groups)
	}
	if len(strings.Split(strings.TrimSpace(in.UIDMap), "\n")) != len(opts.UIDMappings) {
		t.Errorf("uid_map %q", in.UIDMap)
	}
}

func TestInvalidMapsRefusedBeforeStart(t *testing.T) {
	for _, m := range [][]specs.LinuxIDMapping{
		{{ContainerID: 0, HostID: 1000, Size: 0}},
		{{ContainerID: 0, HostID: 0xffffffff, Size: 2}},
		{{ContainerID: 0, HostID: 300000, Size: 10}, {ContainerID: 5, HostID: 400000, Size: 10}},
	} {
		opts := sandbox.Default()
		opts.WithNamespaces(specs.UserNamespace)
		opts.UIDMappings = m
		p, err := new(fork.Config).Start(context.Background(), "probe", opts, 0)
		if err == nil {
			p.Wait()
			t.Fatalf("map %v accepted", m)
		}
		var se *sandbox.Error
		if !errors.As(err, &se) || !strings.Contains(se.Field, "uidMappings") {
			t.Errorf("map %v: %v", m, err)
		}
	}
	if !root() {
		// A range this user does not own.
		opts := sandbox.Default()
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}
		if _, err := new(fork.Config).Start(context.Background(), "probe", opts, 0); err == nil || !strings.Contains(err.Error(), "subuid") {
			t.Errorf("foreign range: %v", err)
		}
	}
}

// TestRlimits: the function and what it execs see exactly the limits set,
// the Go runtime's RLIMIT_NOFILE cache notwithstanding.
func TestRlimits(t *testing.T) {
	opts := sandbox.Default()
	opts.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 123, Hard: 456}}
	in := runProbe(t, opts, 0)
	if in.NoFile != [2]uint64{123, 456} || in.NoFileExec != "123 456" {
		t.Fatalf("NOFILE in function %v, in exec'ed shell %q; want [123 456] and \"123 456\"", in.NoFile, in.NoFileExec)
	}
	var cur unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &cur)
	raised := sandbox.Default()
	raised.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: cur.Max + 10, Hard: cur.Max + 10}}
	if hasCap(unix.CAP_SYS_RESOURCE) {
		// Raising the hard limit: done by the parent, which can.
		in = runProbe(t, raised, 0)
		if in.NoFile[1] != cur.Max+10 {
			t.Fatalf("raised hard limit: %v, want %d", in.NoFile, cur.Max+10)
		}
		return
	}
	_, err := new(fork.Config).Start(context.Background(), "probe", raised, 0)
	var se *fork.SetupError
	if !errors.As(err, &se) || se.Step != "rlimit" || !errors.Is(err, unix.EPERM) {
		t.Fatalf("raising above the hard limit without CAP_SYS_RESOURCE: %v", err)
	}
}

// hasCap reports whether this process has capability c in its effective set
// (root on some hosts lacks CAP_SYS_RESOURCE).
func hasCap(c int) bool {
	m, err := statusFields("/proc/self/status", "CapEff")
	if err != nil {
		return false
	}
	v, _ := strconv.ParseUint(m["CapEff"], 16, 64)
	return v&(1<<uint(c)) != 0
}

// TestCapabilitiesEveryThread: the capability sets and no_new_privs hold on
// every OS thread of the child, including threads the runtime made before
// Init and 64 made afterwards that block in syscalls.
func TestCapabilitiesEveryThread(t *testing.T) {
	opts := sandbox.Default()
	opts.WithNamespaces(specs.UserNamespace)
	opts.Capabilities = &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"},
		Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Effective:   []string{"CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_KILL"},
		Ambient:     []string{"CAP_KILL"},
	}
	want := map[string]string{
		"CapBnd": "0000000000000421", "CapPrm": "0000000000000420", "CapEff": "0000000000000400",
		"CapInh": "0000000000000020", "CapAmb": "0000000000000020", "NoNewPrivs": "1",
	}
	if root() {
		// Also across a uid change to a non-root user.
		opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		opts.User = specs.User{UID: 1000, GID: 1000}
		want["Uid"] = "1000 1000 1000 1000"
	}
	in := runProbe(t, opts, 64)
	if len(in.Threads) < 65 {
		t.Fatalf("only %d threads seen", len(in.Threads))
	}
	for i, th := range in.Threads {
		for k, v := range want {
			if th[k] != v {
				t.Errorf("thread %d: %s = %q, want %q", i, k, th[k], v)
			}
		}
	}
}

func TestUnknownCapabilityRefused(t *testing.T) {
	opts := sandbox.Default()
	opts.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_FLY"}}
	if _, err := new(fork.Config).Start(context.Background(), "probe", opts, 0); err == nil || !strings.Contains(err.Error(), "CAP_FLY") {
		t.Fatalf("%v", err)
	}
}

// TestHygiene: fds the caller holds (without close-on-exec) do not reach
// the function; the environment is what was asked; the cwd too.
func TestHygiene(t *testing.T) {
	var p [2]int
	unix.Pipe(p[:]) // no O_CLOEXEC: inherited by every exec
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	dir, _ := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	defer unix.Close(dir)
	opts := sandbox.Default()
	opts.ClearEnv = true
	opts.Env = []string{"ONLY=this"}
	opts.Cwd = "/tmp"
	var st unix.Stat_t
	unix.Fstat(p[0], &st)
	leakedPipe := fmt.Sprintf("pipe:[%d]", st.Ino)
	in := runProbe(t, opts, 0)
	for _, fd := range in.FDs {
		if strings.HasSuffix(fd, " -> "+leakedPipe) || strings.HasSuffix(fd, " -> /") {
			t.Errorf("the caller's descriptor reached the function: %s (all %v)", fd, in.FDs)
		}
	}
	sockets := 0
	for _, fd := range in.FDs {
		if strings.Contains(fd, "socket:") {
			sockets++
		}
	}
	if sockets > 1 {
		t.Errorf("more than the control socket open: %v", in.FDs)
	}
	if fmt.Sprint(in.Env) != "[ONLY=this]" {
		t.Errorf("env %v", in.Env)
	}
	if in.Cwd != "/tmp" {
		t.Errorf("cwd %q", in.Cwd)
	}
}

// Pid 1 behaviour.

func orphans(n int) (string, error) {
	// Each shell exits at once, leaving a sleep orphaned to pid 1.
	for range n {
		if err := exec.Command("/bin/sh", "-c", "sleep 0.05 &").Run(); err != nil {
			return "", err
		}
	}
	// Exit statuses of our own children are never stolen by the reaper.
	var wrong []string
	for i := range 50 {
		err := exec.Command("/bin/sh", "-c", "sleep 0.01; exit 7").Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			wrong = append(wrong, fmt.Sprintf("run %d: %v", i, err))
		}
	}
	time.Sleep(300 * time.Millisecond)
	zombies := 0
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndex(s, ")"); i > 0 && strings.HasPrefix(s[i+2:], "Z") {
			zombies++
		}
	}
	if len(wrong) > 0 {
		return "", fmt.Errorf("stolen exit statuses: %v", wrong)
	}
	return strconv.Itoa(zombies), nil
}

func waitSignal(sigs []os.Signal) string {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	fmt.Println("ready")
	return (<-ch).String()
}

func init() {
	fork.RegisterFunc("orphans", orphans)
	fork.RegisterFunc("waitSignal", waitSignal)
	gobRegisterSignals()
}

func TestPid1ReapsOrphans(t *testing.T) {
	z, err := fork.Call[string](context.Background(), "orphans", sandbox.Default(), 500)
	if err != nil {
		t.Fatal(err)
	}
	if z != "0" {
		t.Fatalf("%s zombies in the pid namespace", z)
	}
}

func TestPid1Signals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2} {
		r, w, _ := os.Pipe()
		c := &fork.Config{Stdout: w}
		p, err := c.Start(context.Background(), "waitSignal", sandbox.Default(), []os.Signal{sig})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(r).ReadString('\n')
		if line != "ready\n" {
			t.Fatalf("%v: got %q", sig, line)
		}
		p.Signal(sig)
		if err := p.Wait(); err != nil {
			t.Fatalf("%v: %v", sig, err)
		}
		if got := p.Results()[0]; got != sig.String() {
			t.Errorf("function got %v, want %v", got, sig)
		}
		io.Copy(io.Discard, r)
		r.Close()
	}
}

func clocks() ([2]int64, error) {
	var mono, boot unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	return [2]int64{mono.Sec, boot.Sec}, nil
}

func init() { fork.RegisterFunc("clocks", clocks) }

// TestTimeNamespaceOffsets: the function's monotonic and boot clocks run
// with the offsets asked for.
func TestTimeNamespaceOffsets(t *testing.T) {
	opts := sandbox.Default().WithNamespaces(specs.TimeNamespace)
	opts.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1000000}, "boottime": {Secs: 2000000}}
	host, _ := clocks()
	got, err := fork.Call[[2]int64](context.Background(), "clocks", opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0] - host[0]; d < 1000000-5 || d > 1000000+5 {
		t.Errorf("monotonic offset %d s, want 1000000", d)
	}
	if d := got[1] - host[1]; d < 2000000-5 || d > 2000000+5 {
		t.Errorf("boottime offset %d s, want 2000000", d)
	}
}

// clocksWith is clocks plus what arrived in a big []byte and a file.
func clocksWith(b []byte, f *os.File) ([2]int64, int, string, error) {
	c, _ := clocks()
	data, err := io.ReadAll(f)
	return c, len(b), string(data), err
}

func init() { fork.RegisterFunc("clocksWith", clocksWith) }

// TestTimeNamespaceDescriptorArgs: with time offsets the child re-executes
// itself inside the new time namespace; a big []byte (a pipe) and a file
// given to the function must reach the second stage unread.
func TestTimeNamespaceDescriptorArgs(t *testing.T) {
	opts := sandbox.Default().WithNamespaces(specs.TimeNamespace)
	opts.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1000000}}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.WriteString("through the re-exec"); w.Close() }()
	big := make([]byte, 5<<20)
	host, _ := clocks()
	p, err := new(fork.Config).Start(context.Background(), "clocksWith", opts, big, r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	res := p.Results()
	if c := res[0].([2]int64); c[0]-host[0] < 1000000-5 {
		t.Errorf("monotonic offset %d s, want 1000000", c[0]-host[0])
	}
	if res[1] != len(big) || res[2] != "through the re-exec" {
		t.Errorf("the function got %v bytes and %q, want %d and the file's text", res[1], res[2], len(big))
	}
}

func procs() (int, error) {
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		return 0, fmt.Errorf("GOMAXPROCS=%s left in the environment", v)
	}
	return runtime.GOMAXPROCS(0), nil
}

func init() { fork.RegisterFunc("procs", procs) }

// TestGOMAXPROCSRestored: setup runs with one P (cheaper all-threads
// calls); the function gets the runtime's default back and no trace of it.
func TestGOMAXPROCSRestored(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS is set for this test run")
	}
	n, err := fork.Call[int](context.Background(), "procs", sandbox.Default())
	if err != nil {
		t.Fatal(err)
	}
	if n != runtime.GOMAXPROCS(0) {
		t.Fatalf("GOMAXPROCS %d in the function, %d here", n, runtime.GOMAXPROCS(0))
	}
}
