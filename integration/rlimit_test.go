package integration

// Rlimit enforcement: each limit is set through sandbox.Options and then
// hit from inside; the kernel, not the function's good will, stops it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("rl.nofile", rlNofile)
	fork.RegisterFunc("rl.as", rlAS)
	fork.RegisterFunc("rl.spin", rlSpin)
	fork.RegisterFunc("rl.fsize", rlFsize)
	fork.RegisterFunc("rl.core", rlCore)
}

// withRlimit sets one rlimit of o, replacing the preset's value if it has
// one (the presets limit RLIMIT_CORE and RLIMIT_NPROC).
func withRlimit(o *sandbox.Options, typ string, soft, hard uint64) *sandbox.Options {
	o.Rlimits = slices.DeleteFunc(o.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
	o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard})
	return o
}

// NofileInside is the outcome of opening descriptors until it fails.
type NofileInside struct {
	Limit   uint64
	Highest int    // the highest descriptor that opened
	Fail    string // the errno of the open that failed
	Raise   string // setrlimit above the hard limit
}

func rlNofile() *NofileInside {
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	in := &NofileInside{Limit: rl.Cur, Highest: -1}
	var opened []int
	for range 100000 {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			in.Fail = errnoString(err)
			break
		}
		opened = append(opened, fd)
		in.Highest = max(in.Highest, fd)
	}
	for _, fd := range opened {
		unix.Close(fd)
	}
	in.Raise = errnoString(syscall.Setrlimit(unix.RLIMIT_NOFILE, &syscall.Rlimit{Cur: rl.Max + 1, Max: rl.Max + 1}))
	return in
}

// TestRlimitNofileExact: with RLIMIT_NOFILE 64, descriptors 0 to 63 open
// (open returns the lowest free number, so all of them are in use then) and
// the next open fails with EMFILE; the hard limit cannot be raised.
func TestRlimitNofileExact(t *testing.T) {
	in, err := fork.Call[*NofileInside](context.Background(), "rl.nofile", withRlimit(sandbox.Default(), "RLIMIT_NOFILE", 64, 64))
	if err != nil {
		t.Fatal(err)
	}
	if in.Limit != 64 || in.Highest != 63 || in.Fail != "EMFILE" {
		t.Fatalf("limit %d: highest fd %d, then %s; want 64, 63, EMFILE", in.Limit, in.Highest, in.Fail)
	}
	if in.Raise != "EPERM" {
		t.Fatalf("raising the hard limit from inside: %s, want EPERM", in.Raise)
	}
}

// TestRlimitNproc: RLIMIT_NPROC counts the tasks (threads included) of the
// real uid, in the user namespace the sandbox runs in, and root (uid 0 of
// the initial user namespace) is exempt. So: root mode runs as uid 2345,
// rootless as uid 0 of its own user namespace. A shell inside starts
// sleeps until fork fails; fewer than the limit start, and fork fails with
// EAGAIN, so the uid's tasks in the sandbox never exceed it.
func TestRlimitNproc(t *testing.T) {
	const limit = 40
	opts := sandbox.Default()
	if root() {
		opts.User = specs.User{UID: 2345, GID: 2345}
		n := tasksOf(2345)
		require(t, n == 0, fmt.Sprintf("uid 2345 already runs %d tasks on this host", n))
	}
	withRlimit(opts, "RLIMIT_NPROC", limit, limit)
	var out bytes.Buffer
	c := &fork.Config{Stdout: &out, Stderr: &out}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.StartCommand(ctx, opts, "/bin/sh", "-c",
		`ulimit -p; i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); echo "started $i"; done`)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if lines[0] != strconv.Itoa(limit) {
		t.Fatalf("ulimit -p inside: %q, want %d", lines[0], limit)
	}
	started := strings.Count(text, "started ")
	t.Logf("%d sleeps started under RLIMIT_NPROC %d; %v; last lines %q", started, limit, err, lines[max(0, len(lines)-2):])
	if started == 0 || started >= limit {
		t.Fatalf("%d processes started under RLIMIT_NPROC %d", started, limit)
	}
	if !strings.Contains(text, "fork") {
		t.Errorf("the shell did not report a failed fork: %q", text)
	}
	var ee *fork.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("the shell ended with %v, want an exit status from the failed fork", err)
	}
}

// tasksOf counts the tasks whose real uid is uid, as far as /proc shows.
func tasksOf(uid int) int {
	procs, _ := os.ReadDir("/proc")
	n := 0
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		m, err := statusFields("/proc/"+p.Name()+"/status", "Uid", "Threads")
		if err != nil {
			continue
		}
		if f := strings.Fields(m["Uid"]); len(f) > 0 && f[0] == strconv.Itoa(uid) {
			th, _ := strconv.Atoi(m["Threads"])
			n += th
		}
	}
	return n
}

// ASInside is the outcome of mapping memory around the RLIMIT_AS limit.
type ASInside struct {
	Limit, VmSize uint64
	Beyond, Below string
}

func vmSize() uint64 {
	m, _ := statusFields("/proc/self/status", "VmSize")
	kb, _ := strconv.ParseUint(strings.TrimSuffix(m["VmSize"], " kB"), 10, 64)
	return kb << 10
}

func rlAS() *ASInside {
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_AS, &rl)
	in := &ASInside{Limit: rl.Cur, VmSize: vmSize()}
	mmap := func(n uint64) string {
		b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err == nil {
			unix.Munmap(b)
		}
		return errnoString(err)
	}
	if left := int64(in.Limit) - int64(vmSize()); left > 0 {
		in.Beyond = mmap(uint64(left) + 32<<20)
	}
	// The runtime may reserve more address space meanwhile (a 64 MiB heap
	// arena, a thread's stack): the mapping below the limit leaves room.
	const room = 192 << 20
	if left := int64(in.Limit) - int64(vmSize()); left > room {
		in.Below = mmap(uint64(left) - room)
	}
	return in
}

// TestRlimitAS: a mapping that would take the address space past
// RLIMIT_AS fails with ENOMEM; one that stays below it succeeds.
func TestRlimitAS(t *testing.T) {
	const limit = 4 << 30
	in, err := fork.Call[*ASInside](context.Background(), "rl.as", withRlimit(sandbox.Default(), "RLIMIT_AS", limit, limit))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("limit %d MiB, address space in use %d MiB: beyond %s, below %s", in.Limit>>20, in.VmSize>>20, in.Beyond, in.Below)
	if in.Limit != limit || in.Beyond != "ENOMEM" || in.Below != "ok" {
		t.Fatalf("RLIMIT_AS %d: %+v; want ENOMEM beyond the limit and ok below it", uint64(limit), in)
	}
}

func rlSpin() int {
	signal.Ignore(syscall.SIGXCPU)
	n := 0
	for {
		n++
	}
}

// TestRlimitCPU: a function that ignores SIGXCPU (sent at the soft limit,
// 1 s) still dies, by SIGKILL, at the hard limit of 2 s of CPU time.
func TestRlimitCPU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := new(fork.Config).Start(ctx, "rl.spin", withRlimit(sandbox.Default(), "RLIMIT_CPU", 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the context ended it, not the limit: %v", err)
	}
	var ee *fork.ExitError
	if !errors.As(err, &ee) || ee.Signal() != syscall.SIGKILL {
		t.Fatalf("got %v, want death by SIGKILL", err)
	}
	cpu := p.ProcessState.UserTime() + p.ProcessState.SystemTime()
	t.Logf("killed after %v of CPU", cpu)
	if cpu < 1500*time.Millisecond || cpu > 4*time.Second {
		t.Fatalf("killed after %v of CPU, want about the 2 s hard limit", cpu)
	}
}

// FsizeInside is the outcome of writing past RLIMIT_FSIZE.
type FsizeInside struct {
	Written int64
	Err     string
}

func rlFsize(dir string) (*FsizeInside, error) {
	f, err := os.Create(filepath.Join(dir, "big"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	in := &FsizeInside{}
	buf := make([]byte, 64<<10)
	for range 32 { // 2 MiB
		n, err := f.Write(buf)
		in.Written += int64(n)
		if err != nil {
			in.Err = errnoString(err)
			break
		}
	}
	return in, nil
}

// TestRlimitFsize: writing past RLIMIT_FSIZE (1 MiB) fails with EFBIG at
// exactly 1 MiB; the function is not killed (the Go runtime ignores
// SIGXFSZ), and the file holds 1 MiB.
func TestRlimitFsize(t *testing.T) {
	dir := sharedDir(t)
	in, err := fork.Call[*FsizeInside](context.Background(), "rl.fsize", withRlimit(sandbox.Default().WithBinds(dir), "RLIMIT_FSIZE", 1<<20, 1<<20), dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.Written != 1<<20 || in.Err != "EFBIG" {
		t.Fatalf("wrote %d bytes then %q; want %d then EFBIG", in.Written, in.Err, 1<<20)
	}
	if fi, err := os.Stat(filepath.Join(dir, "big")); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("file: %v %v", fi, err)
	}
}

// CoreInside is RLIMIT_CORE as the function and an exec'ed shell see it.
type CoreInside struct {
	Limit [2]uint64
	Shell string
	Raise string
}

func rlCore() *CoreInside {
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_CORE, &rl)
	in := &CoreInside{Limit: [2]uint64{rl.Cur, rl.Max}}
	out, _ := exec.Command("/bin/sh", "-c", "ulimit -c; ulimit -Hc").Output()
	in.Shell = strings.Join(strings.Fields(string(out)), " ")
	in.Raise = errnoString(unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 1 << 20}))
	return in
}

// TestRlimitCoreZeroByDefault: the presets allow no core dump (a core
// holds the function's memory, arguments and secrets), in the function and
// in what it execs, and the sandbox cannot raise the limit again.
func TestRlimitCoreZeroByDefault(t *testing.T) {
	for name, o := range map[string]*sandbox.Options{"Root": sandbox.Root(), "Rootless": sandbox.Rootless()} {
		found := false
		for _, r := range o.Rlimits {
			if r.Type == "RLIMIT_CORE" && r.Soft == 0 && r.Hard == 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("preset %s does not set RLIMIT_CORE 0: %v", name, o.Rlimits)
		}
	}
	in, err := fork.Call[*CoreInside](context.Background(), "rl.core", sandbox.Default())
	if err != nil {
		t.Fatal(err)
	}
	if in.Limit != [2]uint64{0, 0} || in.Shell != "0 0" {
		t.Fatalf("RLIMIT_CORE inside %v, in an exec'ed shell %q; want 0 0", in.Limit, in.Shell)
	}
	if in.Raise != "EPERM" {
		t.Fatalf("raising RLIMIT_CORE from inside: %s, want EPERM", in.Raise)
	}
}

// TestRlimitASCommand: in command mode RLIMIT_AS is set at the end of the
// setup. The sandbox's child is a Go program that maps 1-2 GiB (the
// runtime's reservations); with the limit applied while it set up (a GiB
// here) it died now and then ("fatal error: runtime: cannot allocate
// memory"). A limit it can live under reaches the command, one it cannot
// is refused every time with the figure (exit 125, never a crash), with a
// pid namespace of the sandbox's own (pid 1 starts the command and stays)
// and without (the child becomes the command).
func TestRlimitASCommand(t *testing.T) {
	bin := sandboxrunBin(t)
	limits := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--", "sh", "-c", "grep 'Max address space' /proc/self/limits")...).CombinedOutput()
		return string(out), err
	}
	want := func(out string, limit int) bool {
		f := strings.Fields(out)
		return len(f) >= 5 && f[3] == strconv.Itoa(limit) && f[4] == strconv.Itoa(limit)
	}
	for _, pidns := range [][]string{nil, {"--share", "pid"}} {
		for i := 0; i < 6; i++ {
			out, err := limits(append(pidns, "--rlimit", fmt.Sprintf("as=%d", 1<<30))...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(out, "give at least") || strings.Contains(out, "fatal error") {
				t.Fatalf("%v launch %d, RLIMIT_AS 1 GiB: %v\n%s\nwant exit 125 naming what the child needs", pidns, i, err, out)
			}
			if out, err := limits(append(pidns, "--rlimit", fmt.Sprintf("as=%d", 4<<30))...); err != nil || !want(out, 4<<30) {
				t.Fatalf("%v launch %d, RLIMIT_AS 4 GiB: %v\n%s", pidns, i, err, out)
			}
		}
	}
}
