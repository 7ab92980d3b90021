package jobns

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

func TestMain(m *testing.M) {
	fork.Init()
	os.Exit(m.Run())
}

// require skips, or fails under NSFORK_REQUIRE_ALL=1.
func require(t *testing.T, ok bool, why string) {
	t.Helper()
	testreq.Need(t, ok, "%s", why)
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "job-1.2_x", strings.Repeat("x", 64)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".x", "a/b", "a b", strings.Repeat("x", 65), "../x"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q): nil, want an error", bad)
		}
	}
	for _, s := range []string{"slurm.pmix.12.0", "a/b c", ".hidden", strings.Repeat("é", 80)} {
		n := SafeName(s)
		if err := CheckName(n); err != nil {
			t.Errorf("SafeName(%q) = %q: %v", s, n, err)
		}
	}
	if SafeName(strings.Repeat("a", 70)) == SafeName(strings.Repeat("a", 71)) {
		t.Error("SafeName: two long names collide")
	}
}

func TestNameFromEnv(t *testing.T) {
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"PMIX_NAMESPACE=slurm.pmix.42.0", "SLURM_JOB_ID=42"}, "pmix-slurm.pmix.42.0"},
		{[]string{"SLURM_JOB_ID=42", "SLURM_STEP_ID=3"}, "slurm-42.3"},
		{[]string{"SLURM_JOB_ID=42"}, "slurm-42"},
		{[]string{"OMPI_MCA_ess_base_jobid=123@1"}, "ompi-123_1"},
	}
	for _, c := range cases {
		got, err := NameFromEnv(c.env)
		if err != nil || got != c.want {
			t.Errorf("NameFromEnv(%q) = %q, %v; want %q", c.env, got, err, c.want)
		}
	}
	if _, err := NameFromEnv([]string{"HOME=/"}); err == nil {
		t.Error("NameFromEnv without launcher variables: nil error")
	}
}

func TestDigest(t *testing.T) {
	a := sandbox.Rootless()
	b := a.Clone()
	b.Env, b.Cwd, b.ClearEnv, b.DieWithParent = []string{"X=1"}, "/tmp", true, false
	da, _ := Digest(a)
	db, _ := Digest(b)
	if da != db || !strings.HasPrefix(da, "sha256:") {
		t.Errorf("Digest ignores the rank's own fields: %s vs %s", da, db)
	}
	c := a.Clone()
	c.Rlimits = append(c.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 10})
	if dc, _ := Digest(c); dc == da {
		t.Error("Digest: an added rlimit does not change it")
	}
}

func TestCheckOptions(t *testing.T) {
	if err := CheckOptions(sandbox.Rootless()); err != nil {
		t.Errorf("Rootless: %v", err)
	}
	if err := CheckOptions(sandbox.MPI()); err == nil || !strings.Contains(err.Error(), "pid namespace") {
		t.Errorf("MPIRootless (no pid namespace): %v, want a refusal naming the pid namespace", err)
	}
	o := sandbox.Rootless()
	lim := int64(10)
	o.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &lim}}
	if err := CheckOptions(o); err == nil || !strings.Contains(err.Error(), "cgroup") {
		t.Errorf("cgroup limits: %v, want a refusal", err)
	}
}

func TestEnsureDir(t *testing.T) {
	base := t.TempDir()
	d := filepath.Join(base, "rt")
	if err := ensureDir(d); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(d); st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", st.Mode().Perm())
	}
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	if err := ensureDir(open); err == nil || !strings.Contains(err.Error(), "mode 0755") {
		t.Errorf("0755 directory: %v, want a refusal", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(d, link)
	if err := ensureDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlink: %v, want a refusal", err)
	}
	if err := ensureDir("rel"); err == nil {
		t.Error("relative dir accepted")
	}
}

func TestInsideID(t *testing.T) {
	f := filepath.Join(t.TempDir(), "map")
	os.WriteFile(f, []byte("         0       1000          1\n         1     100000      65536\n"), 0o600)
	for host, want := range map[uint32]uint32{1000: 0, 100000: 1, 100005: 6} {
		if got, err := insideID(f, host); err != nil || got != want {
			t.Errorf("insideID(%d) = %d, %v; want %d", host, got, err, want)
		}
	}
	if _, err := insideID(f, 5); err == nil {
		t.Error("unmapped id: nil error")
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prog")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	noexec := filepath.Join(dir, "data")
	os.WriteFile(noexec, nil, 0o644)
	if p, err := lookPath("prog", []string{"PATH=/nonexistent:" + dir}, "/"); err != nil || p != exe {
		t.Errorf("lookPath prog = %q, %v", p, err)
	}
	if _, err := lookPath("nosuch-x", []string{"PATH=" + dir}, "/"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want ENOENT", err)
	}
	if _, err := lookPath(noexec, nil, "/"); !errors.Is(err, syscall.EACCES) {
		t.Errorf("not executable: %v, want EACCES", err)
	}
}

// jobOptions is a job's sandbox for the test's caller: rootless, or as
// root the root preset with a user namespace and the identity map; with
// the host's file system as it is (HostFS), so that the ranks find the
// test binary, its working directory and its temporary directories,
// wherever the test runs (a private /tmp would hide them).
func jobOptions() *sandbox.Options {
	if os.Geteuid() != 0 {
		return sandbox.Rootless().HostFS()
	}
	o := sandbox.Root().WithNamespaces(specs.UserNamespace).WithoutNamespaces(specs.NetworkNamespace).HostFS()
	all := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
	o.UIDMappings, o.GIDMappings = all, all
	// Host root inside (as sandboxrun --host-root): a rank that starts
	// another from inside is root of a namespace that maps host root.
	o.TrustedHostRoot = true
	return o
}

func usernsWorks(t *testing.T) {
	t.Helper()
	_, err := fork.Call[int](context.Background(), "jobns-test-one", sandbox.Default())
	require(t, err == nil, "cannot start a sandbox here: "+errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func init() { fork.RegisterFunc("jobns-test-one", func() int { return 1 }) }

// run starts a rank and returns what it writes to stdout, and its status.
type result struct {
	out    string
	status Status
	err    error
	rank   *Rank
}

func startRank(t *testing.T, j *Job, argv ...string) (*Rank, func() result) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rank, err := j.Start(context.Background(), Spec{Argv: argv, Env: os.Environ(), Stdout: w})
	w.Close()
	if err != nil {
		r.Close()
		return nil, func() result { return result{err: err} }
	}
	return rank, func() result {
		b, _ := io.ReadAll(r)
		r.Close()
		st, err := rank.Wait()
		return result{out: string(b), status: st, err: err, rank: rank}
	}
}

func newJob(t *testing.T, name string) *Job {
	return &Job{Name: name, Dir: filepath.Join(t.TempDir(), "rt"), Options: jobOptions(), Grace: 300 * time.Millisecond}
}

func waitGone(path string, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

const nsScript = `for n in user pid mnt ipc; do echo "$n $(readlink /proc/self/ns/$n)"; done; sleep 0.5`

func TestSharedNamespaces(t *testing.T) {
	usernsWorks(t)
	j := newJob(t, "t-shared")
	host := map[string]string{}
	for _, n := range []string{"user", "pid", "mnt", "ipc"} {
		host[n], _ = os.Readlink("/proc/self/ns/" + n)
	}
	r1, w1 := startRank(t, j, "/bin/sh", "-c", nsScript)
	r2, w2 := startRank(t, j, "/bin/sh", "-c", nsScript)
	a, b := w1(), w2()
	if a.err != nil || b.err != nil {
		t.Fatalf("ranks: %v / %v", a.err, b.err)
	}
	if !r1.Started || r2.Started {
		t.Errorf("Started: first %v, second %v; want true, false", r1.Started, r2.Started)
	}
	if a.out != b.out || a.out == "" {
		t.Errorf("namespaces differ:\n%s\n%s", a.out, b.out)
	}
	for _, l := range strings.Split(strings.TrimSpace(a.out), "\n") {
		n, v, _ := strings.Cut(l, " ")
		if v == host[n] {
			t.Errorf("%s namespace is the host's (%s)", n, v)
		}
	}
	if a.status.ExitCode() != 0 || b.status.ExitCode() != 0 {
		t.Errorf("exit %d, %d", a.status.ExitCode(), b.status.ExitCode())
	}
	sock, _ := paths(j.Dir, j.Name)
	if !waitGone(sock, 5*time.Second) {
		t.Errorf("%s still there after the last rank and the grace period", sock)
	}
}

func TestConcurrentFirstCallers(t *testing.T) {
	usernsWorks(t)
	j := newJob(t, "t-race")
	const n = 6
	var wg sync.WaitGroup
	outs := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, wait := startRank(t, j, "/bin/sh", "-c", "readlink /proc/self/ns/pid; sleep 0.3")
			outs[i] = wait()
		}()
	}
	wg.Wait()
	started := 0
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("rank %d: %v", i, o.err)
		}
		if o.out != outs[0].out {
			t.Errorf("rank %d in %q, rank 0 in %q", i, o.out, outs[0].out)
		}
		if o.rank.Started {
			started++
		}
	}
	if started != 1 {
		t.Errorf("%d callers started a holder, want 1", started)
	}
}

func TestStatusSignalsRefusals(t *testing.T) {
	usernsWorks(t)
	j := newJob(t, "t-status")
	// Keeps the holder up for the whole test.
	keep, keepWait := startRank(t, j, "/bin/sleep", "30")
	if keep == nil {
		t.Fatal(keepWait().err)
	}
	_, w := startRank(t, j, "/bin/sh", "-c", "exit 7")
	if r := w(); r.err != nil || r.status.ExitCode() != 7 {
		t.Errorf("exit 7: %+v", r)
	}
	rank, w := startRank(t, j, "/bin/sh", "-c", `trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.05; done`)
	if rank == nil {
		t.Fatal(w().err)
	}
	time.Sleep(300 * time.Millisecond)
	rank.Signal(syscall.SIGTERM)
	if r := w(); r.err != nil || r.status.ExitCode() != 9 || !strings.Contains(r.out, "got-term") {
		t.Errorf("trapped TERM: %+v", r)
	}
	rank, w = startRank(t, j, "/bin/sleep", "30")
	if rank == nil {
		t.Fatal(w().err)
	}
	rank.Signal(syscall.SIGTERM)
	if r := w(); r.err != nil || r.status.Signal != syscall.SIGTERM || r.status.ExitCode() != 143 {
		t.Errorf("TERM: %+v", r)
	}
	if err := rank.Signal(syscall.SIGKILL); err == nil {
		t.Error("SIGKILL is relayed")
	}
	_, w = startRank(t, j, "nsfork-no-such-command")
	var je *sandbox.SetupError
	if r := w(); !errors.As(r.err, &je) || je.ExitCode() != 127 || je.Step != "exec" {
		t.Errorf("missing command: %v, want an exec error with code 127", r.err)
	}
	other := *j
	other.Options = j.Options.Clone()
	other.Options.Rlimits = append(other.Options.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 64, Hard: 64})
	_, w = startRank(t, &other, "/bin/true")
	if r := w(); !errors.Is(r.err, ErrOptionsDiffer) {
		t.Errorf("different options: %v, want ErrOptionsDiffer", r.err)
	}
	// A caller that goes away takes its rank with it.
	rank, w = startRank(t, j, "/bin/sleep", "30")
	if rank == nil {
		t.Fatal(w().err)
	}
	rank.Kill()
	start := time.Now()
	keep.Signal(syscall.SIGTERM)
	if r := keepWait(); r.status.Signal != syscall.SIGTERM {
		t.Errorf("keeper: %+v", r)
	}
	sock, _ := paths(j.Dir, j.Name)
	if !waitGone(sock, 5*time.Second) {
		t.Fatalf("holder still serving after every rank ended")
	}
	t.Logf("holder gone %v after the last rank", time.Since(start).Round(time.Millisecond))
}

// TestSweepStale: a start removes the socket another job's holder left
// when it was SIGKILLed (its lock free, its connect refused), and leaves
// a socket whose lock is held, and a living holder's.
func TestSweepStale(t *testing.T) {
	usernsWorks(t)
	j := newJob(t, "t-sweep")
	if err := ensureDir(j.Dir); err != nil {
		t.Fatal(err)
	}
	stale := func(name string) (sock string, lock *os.File) {
		sock, lockPath := paths(j.Dir, name)
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		lock, err = os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lock.Close() })
		return sock, lock
	}
	live := &Job{Name: "t-live", Dir: j.Dir, Options: jobOptions(), Grace: 300 * time.Millisecond}
	_, waitLive := startRank(t, live, "/bin/sh", "-c", "sleep 1")
	liveSock, _ := paths(j.Dir, live.Name)
	dead, _ := stale("t-dead")
	busy, busyLock := stale("t-busy")
	if err := unix.Flock(int(busyLock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, wait := startRank(t, j, "true")
	if r := wait(); r.err != nil {
		t.Fatal(r.err)
	}
	if _, err := os.Lstat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale socket %s is still there: %v", dead, err)
	}
	if _, err := os.Lstat(busy); err != nil {
		t.Errorf("the socket %s, whose lock is held, was removed: %v", busy, err)
	}
	if _, err := os.Lstat(liveSock); err != nil {
		t.Errorf("a living holder's socket %s was removed: %v", liveSock, err)
	}
	if r := waitLive(); r.err != nil || r.status.ExitCode() != 0 {
		t.Errorf("the living job's rank: %v, exit %d", r.err, r.status.ExitCode())
	}
}
