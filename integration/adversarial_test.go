package integration

// The adversarial suite: each test performs an attack from inside a sandbox
// and asserts that it fails. Rlimits are in rlimit_test.go, load in
// soak_test.go, faults in fault_test.go; hostile protocol input, marker
// abuse and parent death are in fork/, seccomp bypasses in seccomp/.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

func init() {
	// The test binary doubles as a setuid / file-capability victim: started
	// with this first argument it prints its ids and capability sets and
	// exits, before TestMain. Only a command started by a test passes it.
	if len(os.Args) > 1 && os.Args[1] == idsArg {
		printIDs()
		os.Exit(0)
	}
	fork.RegisterFunc("adv.nop", func() int { return 42 })
	fork.RegisterFunc("adv.fds", advFDs)
	fork.RegisterFunc("adv.tty", advTTY)
	fork.RegisterFunc("adv.proc", advProc)
	fork.RegisterFunc("adv.nestUserns", advNestUserns)
}

const idsArg = "-nsfork.adv.ids"

func printIDs() {
	m, _ := statusFields("/proc/self/status", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
	fmt.Printf("ruid=%d euid=%d CapInh=%s CapPrm=%s CapEff=%s CapBnd=%s CapAmb=%s NoNewPrivs=%s\n",
		os.Getuid(), os.Geteuid(), m["CapInh"], m["CapPrm"], m["CapEff"], m["CapBnd"], m["CapAmb"], m["NoNewPrivs"])
}

// errnoString names the outcome of an attack: "ok" or the errno.
func errnoString(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// ---- fd leaks --------------------------------------------------------------

// fdTargets lists "fd -> target" for every descriptor of this process.
func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil {
			out = append(out, e.Name()+" -> "+l)
		}
	}
	return out
}

// FDsInside is what a function and a program it runs hold.
type FDsInside struct {
	Function   []string
	Grandchild string // ls -l /proc/self/fd of an exec'ed shell's ls
}

func advFDs() (*FDsInside, error) {
	in := &FDsInside{Function: fdTargets()}
	out, err := exec.Command("/bin/sh", "-c", "ls -l /proc/self/fd").Output()
	if err != nil {
		return nil, fmt.Errorf("grandchild: %w", err)
	}
	in.Grandchild = string(out)
	return in, nil
}

// lsTargets parses `ls -l /proc/self/fd` into fd -> target.
func lsTargets(out string) map[int]string {
	m := map[int]string{}
	for _, l := range strings.Split(out, "\n") {
		before, target, ok := strings.Cut(l, " -> ")
		if !ok {
			continue
		}
		f := strings.Fields(before)
		fd, err := strconv.Atoi(f[len(f)-1])
		if err == nil {
			m[fd] = target
		}
	}
	return m
}

// leakyFDs opens, without close-on-exec, a file, a directory, a socketpair,
// a pipe and a file duplicated to a high number, and returns the targets
// /proc/self/fd shows for them.
func leakyFDs(t *testing.T) []string {
	t.Helper()
	dir := tempDir(t)
	var fds []int
	add := func(fd int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	add(unix.Open(filepath.Join(dir, "leaky-file"), unix.O_RDWR|unix.O_CREAT, 0o600))
	os.Mkdir(filepath.Join(dir, "leaky-dir"), 0o755)
	add(unix.Open(filepath.Join(dir, "leaky-dir"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	add(sp[0], err)
	add(sp[1], nil)
	var p [2]int
	err = unix.Pipe(p[:])
	add(p[0], err)
	add(p[1], nil)
	high := 200
	for ; ; high++ { // a free number: Dup3 would close one in use
		if _, err := unix.FcntlInt(uintptr(high), unix.F_GETFD, 0); err == unix.EBADF {
			break
		}
	}
	add(high, unix.Dup3(fds[0], high, 0))
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	var targets []string
	for _, fd := range fds {
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC != 0 {
			t.Fatalf("fd %d: close-on-exec set or unreadable (%v): the attack needs an inheritable descriptor", fd, err)
		}
		l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, l)
	}
	return targets
}

// TestAdvFDLeaks: descriptors the caller holds without close-on-exec reach
// neither the function, nor a program it runs, nor a command; and the
// launcher's own (control socket, argument memfds) reach no exec'ed program.
func TestAdvFDLeaks(t *testing.T) {
	leaked := leakyFDs(t)
	isLeak := func(target string) bool {
		for _, l := range leaked {
			if target == l {
				return true
			}
		}
		return false
	}

	in, err := fork.Call[*FDsInside](context.Background(), "adv.fds", sandbox.Default())
	if err != nil {
		t.Fatal(err)
	}
	sockets := 0
	for _, fd := range in.Function {
		_, target, _ := strings.Cut(fd, " -> ")
		if isLeak(target) {
			t.Errorf("function: the caller's descriptor is open: %s", fd)
		}
		if strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	if sockets != 1 {
		t.Errorf("function: %d sockets open, want only the control socket: %v", sockets, in.Function)
	}
	// The grandchild: stdin /dev/null, stdout a pipe, stderr /dev/null, and
	// ls's own directory descriptor; nothing else.
	checkExecFDs(t, "grandchild", in.Grandchild, isLeak)

	var out bytes.Buffer
	c := &fork.Config{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}
	p, err := c.StartCommand(context.Background(), sandbox.Default(), "/bin/sh", "-c", "ls -l /proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("command: %v: %s", err, out.String())
	}
	checkExecFDs(t, "command", out.String(), isLeak)
}

func checkExecFDs(t *testing.T, who, ls string, isLeak func(string) bool) {
	t.Helper()
	m := lsTargets(ls)
	if len(m) < 3 {
		t.Fatalf("%s: cannot parse ls output %q", who, ls)
	}
	for fd, target := range m {
		switch {
		case isLeak(target):
			t.Errorf("%s: the caller's descriptor is open: %d -> %s", who, fd, target)
		case fd <= 2:
		case fd == 3 && strings.HasPrefix(target, "/proc/"):
			// ls reading the directory
		default:
			t.Errorf("%s: descriptor %d -> %s is open in an exec'ed program (launcher's own or leaked)", who, fd, target)
		}
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestAdvParentFDsStable: 500 sandboxes, one after the other, leave the
// caller with exactly the descriptors it had.
func TestAdvParentFDsStable(t *testing.T) {
	opts := sandbox.Default()
	run := func() {
		t.Helper()
		v, err := fork.Call[int](context.Background(), "adv.nop", opts)
		if err != nil || v != 42 {
			t.Fatalf("run: %v %v", v, err)
		}
	}
	for range 3 { // the launcher's lazily made helpers (spawner threads, ...)
		run()
	}
	before := countFDs(t)
	start := time.Now()
	const n = 500
	for range n {
		run()
	}
	after := countFDs(t)
	t.Logf("%d sandboxes in %v (%.0f/s); fds %d before, %d after", n, time.Since(start).Round(time.Millisecond), n/time.Since(start).Seconds(), before, after)
	if after != before {
		t.Fatalf("fd count %d -> %d after %d sandboxes: %v", before, after, n, fdTargets())
	}
}

// ---- terminal injection ----------------------------------------------------

func openPTY(t *testing.T) (master *os.File, slave *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	require(t, err == nil, fmt.Sprintf("needs /dev/ptmx: %v", err))
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	// Non-canonical, with echo: every byte that reaches the input queue is
	// counted by TIOCINQ at once and echoed to the master.
	tio, err := unix.IoctlGetTermios(s, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag = tio.Lflag&^unix.ICANON | unix.ECHO
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(s, unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	master, slave = os.NewFile(uintptr(m), "ptmx"), os.NewFile(uintptr(s), fmt.Sprintf("/dev/pts/%d", n))
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

const injected = 'Q'

func advTTY() map[string]string {
	res := map[string]string{}
	c := byte(injected)
	ioctl := func(fd int, req uintptr, arg uintptr) string {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if e != 0 {
			return unix.ErrnoName(e)
		}
		return "ok"
	}
	for fd := 0; fd <= 2; fd++ {
		res[fmt.Sprintf("TIOCSTI fd %d", fd)] = ioctl(fd, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	}
	// The request is an unsigned int to the kernel: a filter that compares
	// all 64 bits would miss this one.
	res["TIOCSTI high bits"] = ioctl(0, unix.TIOCSTI|0xffffffff00000000, uintptr(unsafe.Pointer(&c)))
	for _, sub := range []byte{2 /* TIOCL_SETSEL */, 3 /* TIOCL_PASTESEL */, 6 /* TIOCL_GETSHIFTSTATE */} {
		buf := [8]byte{sub}
		res[fmt.Sprintf("TIOCLINUX %d", sub)] = ioctl(0, unix.TIOCLINUX, uintptr(unsafe.Pointer(&buf[0])))
	}
	// Becoming the terminal's session (stealing it: arg 1) would make
	// TIOCSTI legal.
	res["TIOCSCTTY"] = ioctl(0, unix.TIOCSCTTY, 0)
	res["TIOCSCTTY steal"] = ioctl(0, unix.TIOCSCTTY, 1)
	res["TIOCSTI after TIOCSCTTY"] = ioctl(0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	_, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	res["open /dev/tty"] = errnoString(err)
	return res
}

// TestAdvTerminalInjection: the caller's terminal (a pty that is the
// controlling terminal of the caller's session, as a login shell's is) is
// the sandbox's stdin, stdout and stderr. TIOCSTI, also with the high bits
// of the request set, TIOCLINUX and taking the terminal over all fail, and
// nothing reaches the terminal's input queue or its echo.
func TestAdvTerminalInjection(t *testing.T) {
	master, slave := openPTY(t)
	if b, err := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti"); err == nil {
		t.Logf("dev.tty.legacy_tiocsti = %s", strings.TrimSpace(string(b)))
	}
	// The caller's session: a process that owns the pty as its
	// controlling terminal, like the shell the caller runs in.
	holder := exec.Command("/bin/sleep", "60")
	holder.Stdin, holder.Stdout, holder.Stderr = slave, slave, slave
	holder.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()

	c := &fork.Config{Stdin: slave, Stdout: slave, Stderr: slave}
	p, err := c.Start(context.Background(), "adv.tty", sandbox.Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	res := p.Results()[0].(map[string]string)
	for k, v := range res {
		if v == "ok" {
			t.Errorf("%s succeeded from inside the sandbox", k)
		}
	}
	t.Logf("outcomes: %v", res)

	inq, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	if inq != 0 {
		t.Errorf("%d bytes were pushed into the terminal's input queue", inq)
	}
	echoed := readFor(master, 300*time.Millisecond)
	if bytes.IndexByte(echoed, injected) >= 0 {
		t.Errorf("injected input echoed on the terminal: %q", echoed)
	}

	// Control: input that does arrive is seen by both checks.
	master.Write([]byte{'C'})
	time.Sleep(50 * time.Millisecond)
	inq, _ = unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
	if echo := readFor(master, 300*time.Millisecond); inq != 1 || bytes.IndexByte(echo, 'C') < 0 {
		t.Fatalf("control: typed input not detected (queue %d, echo %q): the checks above prove nothing", inq, echo)
	}
	if hasCap(unix.CAP_SYS_ADMIN) {
		// Control: TIOCSTI that the kernel allows (CAP_SYS_ADMIN) is seen.
		c := byte(injected)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, slave.Fd(), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))); e != 0 {
			t.Fatalf("control TIOCSTI with CAP_SYS_ADMIN: %v", e)
		}
		time.Sleep(50 * time.Millisecond)
		inq, _ = unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
		if echo := readFor(master, 300*time.Millisecond); inq != 2 || bytes.IndexByte(echo, injected) < 0 {
			t.Fatalf("control: an allowed TIOCSTI was not detected (queue %d, echo %q)", inq, echo)
		}
	}
}

func readFor(f *os.File, d time.Duration) []byte {
	f.SetReadDeadline(time.Now().Add(d))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}

// ---- ptrace and /proc --------------------------------------------------------

// ProcAttack is what an attack on another process's memory, environment and
// arguments got: the outcome of each step and any bytes read.
type ProcAttack struct {
	Outcome map[string]string
	Read    []byte
}

func advProc(target int, addr uintptr) *ProcAttack {
	a := &ProcAttack{Outcome: map[string]string{}}
	keep := func(b []byte) {
		if len(a.Read)+len(b) < 8<<20 {
			a.Read = append(a.Read, b...)
		}
	}
	runtime.LockOSThread() // ptrace is per thread; this goroutine stays put
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_ATTACH, uintptr(target), 0, 0, 0, 0)
	a.Outcome["ptrace attach"] = errnoString(errnoOrNil(e))
	if e == 0 {
		unix.PtraceDetach(target)
	}
	_, _, e = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(target), 0, 0, 0, 0)
	a.Outcome["ptrace seize"] = errnoString(errnoOrNil(e))
	buf := make([]byte, 4096)
	n, err := unix.ProcessVMReadv(target, []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}},
		[]unix.RemoteIovec{{Base: addr, Len: len(buf)}}, 0)
	a.Outcome["process_vm_readv"] = errnoString(err)
	if err == nil {
		keep(buf[:n])
	}
	attackFiles := func(prefix string) {
		for _, f := range []string{"mem", "environ", "cmdline"} {
			path := fmt.Sprintf("/proc/%d/%s", target, f)
			fh, err := os.Open(path)
			a.Outcome[prefix+path] = errnoString(err)
			if err != nil {
				continue
			}
			if f == "mem" {
				n, err := fh.ReadAt(buf, int64(addr))
				a.Outcome[prefix+path+" read"] = errnoString(err)
				keep(buf[:n])
			} else {
				b, _ := io.ReadAll(fh)
				keep(b)
			}
			fh.Close()
		}
	}
	attackFiles("")
	// Uncover the host's /proc under the sandbox's own.
	a.Outcome["umount /proc"] = errnoString(unix.Unmount("/proc", unix.MNT_DETACH))
	attackFiles("after umount: ")
	// Everything this /proc shows: the sandbox's own processes, nothing of
	// the caller's pid namespace (its pid 1 included).
	procs, _ := os.ReadDir("/proc")
	var pids []string
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		pids = append(pids, p.Name())
		for _, f := range []string{"environ", "cmdline"} {
			if b, err := os.ReadFile("/proc/" + p.Name() + "/" + f); err == nil {
				keep(b)
			}
		}
	}
	a.Outcome["pids visible"] = strings.Join(pids, ",")
	return a
}

func errnoOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// TestAdvProcAttack runs the attack from a sandbox started by a caller
// whose environment and arguments hold secrets (a copy of this test binary
// started with them, so that they are in its initial environment and
// argument block, where /proc/<pid>/environ and cmdline read them).
func TestAdvProcAttack(t *testing.T) {
	secret := make([]byte, 12)
	rand.Read(secret)
	s := hex.EncodeToString(secret)
	cmd := exec.Command(os.Args[0], append(helperTest("TestAdvProcAttackCaller"), "-test.v", "--", "argsecret-"+s)...)
	cmd.Env = append(os.Environ(), "NSFORK_ADV_CALLER=1", "NSFORK_ADV_SECRET=envsecret-"+s)
	out, err := cmd.CombinedOutput()
	t.Logf("caller:\n%s", out)
	if err != nil {
		t.Fatalf("caller: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestAdvProcAttackCaller")) {
		t.Fatal("the caller did not run the attack")
	}
}

func TestAdvProcAttackCaller(t *testing.T) {
	if os.Getenv("NSFORK_ADV_CALLER") != "1" {
		t.Skip("helper of TestAdvProcAttack")
	}
	envSecret := os.Getenv("NSFORK_ADV_SECRET")
	argSecret := os.Args[len(os.Args)-1]
	if !strings.HasPrefix(envSecret, "envsecret-") || !strings.HasPrefix(argSecret, "argsecret-") {
		t.Fatalf("no secrets: %q %q", envSecret, argSecret)
	}
	// A heap copy of the secret at an address the attacker is told.
	heap := []byte("heapsecret-" + envSecret)
	addr := uintptr(unsafe.Pointer(&heap[0]))

	opts := sandbox.Default()
	opts.ClearEnv = true // the sandbox gets none of it by inheritance
	c := &fork.Config{Args: []string{"sandboxed"}}
	p, err := c.Start(context.Background(), "adv.proc", opts, os.Getpid(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	a := p.Results()[0].(*ProcAttack)
	runtime.KeepAlive(heap)
	t.Logf("outcomes: %v", a.Outcome)
	for k, v := range a.Outcome {
		if k != "pids visible" && v == "ok" {
			t.Errorf("%s succeeded against the caller (pid %d)", k, os.Getpid())
		}
	}
	for _, s := range []string{envSecret, argSecret, string(heap)} {
		if bytes.Contains(a.Read, []byte(s)) {
			t.Errorf("the sandbox read the caller's secret %q", s)
		}
	}
	if a.Outcome["pids visible"] != "1" {
		t.Errorf("/proc inside shows pids %s, want only 1 (the sandbox itself)", a.Outcome["pids visible"])
	}
}

// TestAdvLauncherNotTraceable: in command mode the launcher stays as pid 1
// of the sandbox, holding the channel to the caller. The command, which runs
// with the same ids, cannot read its memory or environment, nor write the
// binary behind /proc/1/exe (the CVE-2019-5736 class of attack).
func TestAdvLauncherNotTraceable(t *testing.T) {
	var out bytes.Buffer
	c := &fork.Config{Stdout: &out, Stderr: &out}
	p, err := c.StartCommand(context.Background(), sandbox.Default(), "/bin/sh", "-c",
		`for f in environ mem maps; do if (exec 3</proc/1/$f) 2>/dev/null; then echo "open /proc/1/$f: ok"; else echo "open /proc/1/$f: refused"; fi; done
		 if (echo x >>/proc/1/exe) 2>/dev/null; then echo "write /proc/1/exe: ok"; else echo "write /proc/1/exe: refused"; fi`)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	t.Logf("%s", out.String())
	if strings.Count(out.String(), "refused") != 4 {
		t.Errorf("the command reached the launcher (pid 1):\n%s", out.String())
	}
}

// ---- privilege regain --------------------------------------------------------

// victimCopy copies this test binary into a new world-traversable
// directory as name (a setuid or file-capability victim: it prints its ids
// when started with idsArg).
func victimCopy(t *testing.T, name string) string {
	t.Helper()
	_, bin := testBinaryCopy(t, name)
	return bin
}

// idsOf runs the victim as a command in opts and returns what it printed.
func idsOf(t *testing.T, opts *sandbox.Options, victim string) string {
	t.Helper()
	var out bytes.Buffer
	c := &fork.Config{Stdout: &out, Stderr: &out}
	p, err := c.StartCommand(context.Background(), opts, victim, idsArg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	return strings.TrimSpace(out.String())
}

func field(ids, name string) string {
	for _, f := range strings.Fields(ids) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestAdvSetuidRoot (root mode): a setuid-root binary run as uid 1000 from a
// sandbox with no user namespace. Without no_new_privs it would make the
// process euid 0 (the control run proves this file system honours the
// bit); with the preset's no_new_privs it runs as 1000.
func TestAdvSetuidRoot(t *testing.T) {
	onlyRoot(t)
	victim := victimCopy(t, "suid-victim")
	if err := os.Chown(victim, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(victim, 0o4755); err != nil {
		t.Fatal(err)
	}
	// Host root's setuid binary as host uid 1000: HostRoot, the one mode
	// in which the binary's owner is the sandbox's root. (In the default
	// mode host root is not mapped, and its setuid bit gives nothing.)
	opts := sandbox.HostRoot()
	opts.Seccomp = nil
	opts.User = specs.User{UID: 1000, GID: 1000}

	control := *opts
	control.NoNewPrivileges = false
	if ids := idsOf(t, &control, victim); field(ids, "euid") != "0" {
		t.Fatalf("control without no_new_privs: %q: the setuid bit is not honoured here, the test proves nothing", ids)
	}
	ids := idsOf(t, opts, victim)
	if field(ids, "euid") != "1000" || field(ids, "ruid") != "1000" || field(ids, "CapEff") != "0000000000000000" {
		t.Fatalf("setuid root binary under no_new_privs: %s", ids)
	}
}

// TestAdvSetuidNamespaceRoot (rootless mode): the same attack inside a user
// namespace: a binary owned by the namespace's root (the caller) with the
// setuid bit, run as namespace uid 1000.
func TestAdvSetuidNamespaceRoot(t *testing.T) {
	onlyRootless(t)
	ranges, _ := sandbox.LookupSubIDs("", os.Geteuid(), sandbox.SubUIDFile)
	granges, _ := sandbox.LookupSubIDs("", os.Geteuid(), sandbox.SubGIDFile)
	if len(ranges) == 0 {
		ranges, _ = sandbox.LookupSubIDs("nobody", -1, sandbox.SubUIDFile)
		granges, _ = sandbox.LookupSubIDs("nobody", -1, sandbox.SubGIDFile)
	}
	_, err := exec.LookPath("newuidmap")
	require(t, len(ranges) > 0 && len(granges) > 0 && err == nil, "needs subordinate ids for this user and newuidmap (Debian uidmap)")
	victim := victimCopy(t, "suid-victim")
	if err := unix.Chmod(victim, 0o4755); err != nil {
		t.Fatal(err)
	}
	opts := sandbox.Rootless()
	opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}, {ContainerID: 1, HostID: ranges[0].Start, Size: min(ranges[0].Size, 65535)}}
	opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}, {ContainerID: 1, HostID: granges[0].Start, Size: min(granges[0].Size, 65535)}}
	opts.User = specs.User{UID: 1000, GID: 1000}

	control := *opts
	control.NoNewPrivileges = false
	if ids := idsOf(t, &control, victim); field(ids, "euid") != "0" {
		t.Fatalf("control without no_new_privs: %q: the setuid bit is not honoured here, the test proves nothing", ids)
	}
	ids := idsOf(t, opts, victim)
	if field(ids, "euid") != "1000" || field(ids, "CapEff") != "0000000000000000" {
		t.Fatalf("setuid binary under no_new_privs: %s", ids)
	}
}

// TestAdvFileCapabilities (root mode): a binary with file capabilities
// (cap_net_raw,cap_dac_override+ep) gives nothing under no_new_privs, even
// with both capabilities left in the bounding set; the control run without
// no_new_privs gets them.
func TestAdvFileCapabilities(t *testing.T) {
	onlyRoot(t)
	setcap, err := exec.LookPath("setcap")
	require(t, err == nil, "needs setcap (Debian libcap2-bin)")
	victim := victimCopy(t, "fcap-victim")
	if out, err := exec.Command(setcap, "cap_net_raw,cap_dac_override+ep", victim).CombinedOutput(); err != nil {
		require(t, false, fmt.Sprintf("setcap failed (file system without security xattrs?): %v: %s", err, out))
	}
	const want = "0000000000002002" // CAP_DAC_OVERRIDE (1) | CAP_NET_RAW (13)
	opts := sandbox.Root()
	opts.User = specs.User{UID: 1000, GID: 1000}
	opts.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_NET_RAW", "CAP_DAC_OVERRIDE"}}

	control := *opts
	control.NoNewPrivileges = false
	if ids := idsOf(t, &control, victim); field(ids, "CapEff") != want {
		t.Fatalf("control without no_new_privs: %q: file capabilities are not honoured here, the test proves nothing", ids)
	}
	ids := idsOf(t, opts, victim)
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if field(ids, set) != "0000000000000000" {
			t.Errorf("file capabilities under no_new_privs: %s = %s (%s)", set, field(ids, set), ids)
		}
	}
	// And with the preset's empty bounding set: the kernel refuses to run
	// a binary whose file capabilities it cannot grant (EPERM, exit 126).
	opts = sandbox.Root()
	opts.User = specs.User{UID: 1000, GID: 1000}
	var out bytes.Buffer
	p, err := (&fork.Config{Stdout: &out, Stderr: &out}).StartCommand(context.Background(), opts, victim, idsArg)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var se *fork.SetupError
	switch {
	case errors.As(err, &se) && se.Step == "exec" && errors.Is(err, unix.EPERM):
	case err == nil && field(out.String(), "CapEff") == "0000000000000000" && field(out.String(), "CapPrm") == "0000000000000000":
	default:
		t.Errorf("file capabilities with the preset: %v: %s", err, out.String())
	}
}

// TestAdvNoInheritableOrAmbient: with the preset, an exec'ed program has no
// capability in any set, and no_new_privs (every thread of the function is
// covered by TestCapabilitiesEveryThread).
func TestAdvNoInheritableOrAmbient(t *testing.T) {
	ids := idsOf(t, sandbox.Default(), victimCopy(t, "victim"))
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if field(ids, set) != "0000000000000000" {
			t.Errorf("%s = %s in an exec'ed program, want empty (%s)", set, field(ids, set), ids)
		}
	}
	if field(ids, "NoNewPrivs") != "1" {
		t.Errorf("no_new_privs not set in an exec'ed program: %s", ids)
	}
}

// UsernsAttempt is the outcome of making a nested user namespace.
type UsernsAttempt struct {
	Unshare string // unshare(CLONE_NEWUSER) from the (multi-threaded) function
	Clone   string // a child process cloned with CLONE_NEWUSER
}

func advNestUserns() *UsernsAttempt {
	runtime.LockOSThread() // should unshare succeed, the thread dies with us
	u := &UsernsAttempt{Unshare: errnoString(unix.Unshare(unix.CLONE_NEWUSER))}
	c := exec.Command("/bin/true")
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	u.Clone = errnoString(c.Run())
	return u
}

// TestAdvNestedUsernsDenied: under Docker's default seccomp profile a
// nested user namespace cannot be made, neither by unshare nor by clone;
// the control run without the profile makes one.
func TestAdvNestedUsernsDenied(t *testing.T) {
	noFilter := sandbox.Default()
	noFilter.Seccomp = nil // the defaults have the profile: the control has none
	control, err := fork.Call[*UsernsAttempt](context.Background(), "adv.nestUserns", noFilter)
	if err != nil {
		t.Fatal(err)
	}
	require(t, control.Clone == "ok", fmt.Sprintf("control: a nested user namespace cannot be made even without a profile (%+v): the test would prove nothing", control))

	opts := sandbox.Default()
	opts.Seccomp, err = seccomp.DefaultProfile(nil, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fork.Call[*UsernsAttempt](context.Background(), "adv.nestUserns", opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Unshare == "ok" || got.Clone == "ok" {
		t.Fatalf("nested user namespace under the default profile: %+v", got)
	}
	t.Logf("control %+v, with profile %+v", control, got)
}
