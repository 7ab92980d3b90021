package integration

// The escape suite (issue 17): one probe, run from inside every sandboxing
// mode (the CLI's defaults and flags, a bundle, and the Go API's Default()
// in function mode, command mode and a Pool), tries each attack on the
// host and reports it as one line. The test asserts that every attack
// fails, and, from an unsandboxed run of the same probe, that each one can
// succeed where nothing stops it. No attack changes host state: a file
// that opens for writing is written back with exactly what it held, or
// only opened; a file the probe creates is removed at once.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
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

// escArg, as the first argument, makes this test binary the escape probe
// (a command started by the escape test only): it runs the attacks named
// by the flags that follow, prints one "ESC " line per attack, and exits
// before TestMain. "escArg noop" exits 0 at once.
const escArg = "-nsfork.escape.probe"

func init() {
	if len(os.Args) > 1 && os.Args[1] == escArg {
		if len(os.Args) > 2 && os.Args[2] == "noop" {
			os.Exit(0)
		}
		lines, err := escProbe(os.Args[2:], os.Stdout)
		for _, l := range lines {
			fmt.Println("ESC " + l)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "escape probe:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	fork.RegisterFunc("escape.probe", escProbe)
}

// Verdicts of one attack.
const (
	escEscaped = "ESCAPED" // the attack worked
	escDenied  = "denied"  // the attack failed
	escNA      = "n/a"     // nothing to attack (a root-only target when not root)
)

// Limits of the fork bomb.
const (
	bombAttempts = 2200
	bombTime     = 20 * time.Second
	bombMax      = 2100 // it must stop before this many processes
	bombHold     = 1500 * time.Millisecond
	bombPeak     = "BOMB-PEAK"
)

type escAttempt struct {
	launcher string // the launcher's binary, to open for writing
	victim   int    // a host root process
	sibling  int    // a process of another root caller's sandbox
	socket   string // a root-only unix socket
	key      int    // a key in the caller's session keyring
	session  int    // the caller's session keyring
	sysFile  string // a root-owned writable sysfs file
	tag      string // makes the names of created files unique
	bomb     bool
	lines    []string
}

func (a *escAttempt) add(attack, verdict, detail string) {
	a.lines = append(a.lines, attack+"\t"+verdict+"\t"+detail)
}

// try records an attack whose success is err == nil.
func (a *escAttempt) try(attack string, err error, won string) {
	if err == nil {
		a.add(attack, escEscaped, won)
		return
	}
	a.add(attack, escDenied, err.Error())
}

// escProbe runs the attacks argv names and returns one line per attack:
// "ATTACK\tVERDICT\tDETAIL". notify gets the fork bomb's peak as it happens,
// so that the test can check the host while the bomb holds its processes.
// It is the registered function of the Go API's function mode and pools,
// and the body of the probe command.
func escProbe(argv []string, notify *os.File) ([]string, error) {
	a := &escAttempt{}
	fs := flag.NewFlagSet("escape-probe", flag.ContinueOnError)
	fs.StringVar(&a.launcher, "launcher", "", "")
	fs.IntVar(&a.victim, "victim", 0, "")
	fs.IntVar(&a.sibling, "sibling", 0, "")
	fs.StringVar(&a.socket, "socket", "", "")
	fs.IntVar(&a.key, "key", 0, "")
	fs.IntVar(&a.session, "session", 0, "")
	fs.StringVar(&a.sysFile, "sys", "", "")
	fs.StringVar(&a.tag, "tag", "x", "")
	fs.BoolVar(&a.bomb, "bomb", false, "")
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	a.procSys()
	a.sysfs()
	a.cgroups()
	a.hostFiles()
	a.launcherExe()
	a.processAttacks("victim", a.victim, "no victim")
	a.processAttacks("sibling", a.sibling, "root-only: a caller's sandboxes are all its own uid unless root starts them")
	a.rootSocket()
	a.keyring()
	a.nestedUserns()
	if a.bomb {
		a.forkBomb(notify)
	}
	a.add("done", escNA, "")
	return a.lines, nil
}

// procSys opens core_pattern for writing and, if that works, writes back
// exactly what it read: a sandbox that can do this can make the kernel
// run a program of its choice as host root.
func (a *escAttempt) procSys() {
	const p = "/proc/sys/kernel/core_pattern"
	old, rerr := os.ReadFile(p)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		a.add("proc-sys "+p, escDenied, err.Error())
		return
	}
	defer f.Close()
	if rerr != nil {
		a.add("proc-sys "+p, escEscaped, "opened for writing (not written: "+rerr.Error()+")")
		return
	}
	_, werr := f.Write(old)
	a.add("proc-sys "+p, escEscaped, fmt.Sprintf("opened for writing; wrote back %q: %v", strings.TrimSpace(string(old)), werr))
}

func (a *escAttempt) sysfs() {
	if a.sysFile == "" {
		a.add("sysfs", escNA, "no root-owned writable sysfs file on this host")
		return
	}
	f, err := os.OpenFile(a.sysFile, os.O_WRONLY, 0)
	if err == nil {
		f.Close()
	}
	a.try("sysfs "+a.sysFile, err, "opened for writing")
}

// escCgroupMount is a cgroup file system seen in /proc/self/mountinfo.
type escCgroupMount struct {
	dir, root string
	v2        bool
	opts      map[string]bool
}

func escCgroupMounts() []escCgroupMount {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var ms []escCgroupMount
	seen := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") || seen[f[4]] {
			continue
		}
		seen[f[4]] = true
		m := escCgroupMount{dir: f[4], root: f[3], v2: g[0] == "cgroup2", opts: map[string]bool{}}
		for _, o := range strings.Split(g[2], ",") {
			m.opts[o] = true
		}
		ms = append(ms, m)
	}
	return ms
}

// escOwnCgroup is the directory of this process's cgroup under m, from
// /proc/self/cgroup, or "" when it is not under m's root.
func escOwnCgroup(m escCgroupMount) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		match := m.v2 && parts[0] == "0" && parts[1] == ""
		if !m.v2 && parts[1] != "" {
			match = true
			for _, c := range strings.Split(parts[1], ",") {
				match = match && m.opts[c]
			}
		}
		if !match {
			continue
		}
		rel, ok := strings.CutPrefix(parts[2], m.root)
		if !ok {
			return ""
		}
		return filepath.Join(m.dir, rel)
	}
	return ""
}

// cgroups: the sandbox's own cgroup.procs in every hierarchy it sees (if
// it opens, the probe writes its own pid, listed there already: a no-op),
// and each hierarchy's root cgroup.procs (opened only: a write would move
// the probe out of its cgroup).
func (a *escAttempt) cgroups() {
	ms := escCgroupMounts()
	if len(ms) == 0 {
		a.add("cgroup", escNA, "no cgroup file system visible")
		return
	}
	pid := strconv.Itoa(os.Getpid())
	for _, m := range ms {
		if own := escOwnCgroup(m); own != "" {
			p := filepath.Join(own, "cgroup.procs")
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				a.add("cgroup own "+p, escDenied, err.Error())
			} else {
				detail := "opened for writing (not written: this pid is not listed, the path may be outside a cgroup namespace)"
				if b, rerr := os.ReadFile(p); rerr == nil && escHasLine(string(b), pid) {
					_, werr := f.WriteString(pid)
					detail = fmt.Sprintf("opened for writing; wrote its own pid back: %v", werr)
				}
				f.Close()
				a.add("cgroup own "+p, escEscaped, detail)
			}
			// Its own limits, and those of the cgroup above it: opened only.
			for _, dir := range []string{own, filepath.Dir(own)} {
				if dir == m.dir || !strings.HasPrefix(dir, m.dir) {
					continue
				}
				for _, name := range escLimitFiles {
					p := filepath.Join(dir, name)
					if _, err := os.Stat(p); err != nil {
						continue
					}
					f, err := os.OpenFile(p, os.O_WRONLY, 0)
					if err == nil {
						f.Close()
					}
					a.try("cgroup limit "+p, err, "opened for writing: the sandbox can change a cgroup's limit")
				}
			}
		}
		p := filepath.Join(m.dir, "cgroup.procs")
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		a.try("cgroup root "+p, err, "opened for writing: the sandbox can leave its cgroup")
	}
}

// escLimitFiles are cgroup files that set a limit or freeze (v1 and v2).
var escLimitFiles = []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.max", "memory.high",
	"pids.max", "cpu.cfs_quota_us", "cpu.max", "freezer.state", "cgroup.freeze", "devices.allow", "cgroup.kill"}

func escHasLine(s, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == want {
			return true
		}
	}
	return false
}

func (a *escAttempt) hostFiles() {
	for _, d := range []string{"/etc", "/root", "/usr/bin"} {
		a.try("host-file access(W_OK) "+d, unix.Access(d, unix.W_OK), "writable")
	}
	p := "/etc/nsfork-escape-" + a.tag
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		f.Close()
		rerr := os.Remove(p)
		a.add("host-file create "+p, escEscaped, fmt.Sprintf("created (removed: %v)", rerr))
		return
	}
	a.add("host-file create "+p, escDenied, err.Error())
}

// launcherExe opens the launcher's binary for writing, through /proc and
// by path (opened only, never written).
func (a *escAttempt) launcherExe() {
	paths := []string{"/proc/1/exe"}
	if pp := os.Getppid(); pp > 1 {
		paths = append(paths, fmt.Sprintf("/proc/%d/exe", pp))
	}
	if a.launcher != "" {
		paths = append(paths, a.launcher)
	}
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		a.try("launcher-exe "+p, err, "opened for writing")
	}
}

// processAttacks signals, attaches to and reads the environment of
// process v (where the pid namespace hides it: ESRCH or ENOENT).
func (a *escAttempt) processAttacks(class string, v int, na string) {
	if v <= 0 {
		a.add(class, escNA, na)
		return
	}
	a.try(class+" kill(0) "+strconv.Itoa(v), unix.Kill(v, 0), "may signal it")
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := unix.PtraceAttach(v)
		if err == nil {
			var ws unix.WaitStatus
			unix.Wait4(v, &ws, unix.WALL, nil)
			derr := unix.PtraceDetach(v)
			a.add(class+" ptrace "+strconv.Itoa(v), escEscaped, fmt.Sprintf("attached (detached: %v)", derr))
			return
		}
		a.add(class+" ptrace "+strconv.Itoa(v), escDenied, err.Error())
	}()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", v))
	a.try(class+" environ "+strconv.Itoa(v), err, fmt.Sprintf("read %d bytes", len(b)))
}

func (a *escAttempt) rootSocket() {
	if a.socket == "" {
		a.add("root-socket", escNA, "root-only: only a root caller can make a socket the sandbox's user may not reach")
		return
	}
	c, err := net.DialTimeout("unix", a.socket, 5*time.Second)
	if err == nil {
		c.Close()
	}
	a.try("root-socket "+a.socket, err, "connected")
}

func (a *escAttempt) keyring() {
	if a.key != 0 {
		buf := make([]byte, 512)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, a.key, buf, 0)
		a.try("keyring read "+strconv.Itoa(a.key), err, fmt.Sprintf("read the caller's key (%d bytes)", n))
	}
	id, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	switch {
	case err != nil:
		a.add("keyring session", escDenied, "keyctl: "+err.Error())
	case id == a.session:
		a.add("keyring session", escEscaped, fmt.Sprintf("the caller's session keyring %d", id))
	default:
		a.add("keyring session", escDenied, fmt.Sprintf("its own session keyring %d (the caller's is %d)", id, a.session))
	}
}

// nestedUserns starts a child in a new user namespace (unshare(2) itself
// always fails in a multi-threaded Go process: clone is the real test).
func (a *escAttempt) nestedUserns() {
	cmd := exec.Command("/proc/self/exe", escArg, "noop")
	// Its stdio is the probe's own: a sandbox whose /dev/null cannot be
	// opened (a bundle's device rules) still gets to the clone.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	err := cmd.Start()
	if err == nil {
		werr := cmd.Wait()
		a.add("userns nested", escEscaped, fmt.Sprintf("a child started in a new user namespace (exit: %v)", werr))
		return
	}
	a.add("userns nested", escDenied, err.Error())
}

// forkBomb starts `sleep 30` until the kernel refuses (EAGAIN), at most
// bombAttempts times in bombTime, reports the peak on notify, holds it
// (less 16 processes) for bombHold, then kills and reaps every process it
// made.
func (a *escAttempt) forkBomb(notify *os.File) {
	// A static busybox (Debian's busybox-static) starts faster than the
	// dynamically linked /bin/sleep.
	bin := "/bin/sleep"
	if _, err := os.Stat("/bin/busybox"); err == nil {
		bin = "/bin/busybox"
	}
	// At the limit the Go runtime cannot start a thread, and dies if it
	// needs one: leave it idle threads to take (threads that were locked
	// and released go back to its pool), and give slots back as soon as
	// the kernel refuses.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			time.Sleep(20 * time.Millisecond)
			runtime.UnlockOSThread()
		}()
	}
	wg.Wait()
	var pids []int
	var stop error
	start := time.Now()
	for len(pids) < bombAttempts && time.Since(start) < bombTime {
		pid, err := syscall.ForkExec(bin, []string{"sleep", "30"}, &syscall.ProcAttr{})
		if err != nil {
			stop = err
			break
		}
		pids = append(pids, pid)
	}
	took, peak := time.Since(start), len(pids)
	kill := func(n int) {
		n = min(n, len(pids))
		for _, p := range pids[len(pids)-n:] {
			syscall.Kill(p, syscall.SIGKILL)
		}
		for _, p := range pids[len(pids)-n:] {
			var ws syscall.WaitStatus
			syscall.Wait4(p, &ws, 0, nil)
		}
		pids = pids[:len(pids)-n]
	}
	kill(16)
	fmt.Fprintf(notify, "%s %d\n", bombPeak, peak)
	time.Sleep(bombHold)
	kill(len(pids))
	detail := fmt.Sprintf("%d processes in %v, stopped by %v", peak, took.Round(time.Millisecond), stop)
	if errors.Is(stop, syscall.EAGAIN) && peak < bombMax {
		a.add("fork-bomb", escDenied, detail)
		return
	}
	a.add("fork-bomb", escEscaped, detail+fmt.Sprintf(" (want EAGAIN before %d)", bombMax))
}

// ---- the test side ---------------------------------------------------------

// escEnv is what every mode's run shares: the probe, the victims and the
// launcher.
type escEnv struct {
	share    *shareEnv
	dir      string // world-readable: the probe, and the root-only socket's parent
	probe    string
	victim   int
	sibling  int
	socket   string
	key      int
	session  int
	sysFile  string
	launcher string // the CLI's binary (the test binary in Go API modes)

	mu      sync.Mutex
	results map[string]map[string]string // mode -> attack -> verdict
	n       int
}

func (e *escEnv) argv(launcher string, bomb bool) []string {
	e.mu.Lock()
	e.n++
	tag := fmt.Sprintf("%d-%d", os.Getpid(), e.n)
	e.mu.Unlock()
	a := []string{"-launcher=" + launcher, "-victim=" + strconv.Itoa(e.victim), "-sibling=" + strconv.Itoa(e.sibling), "-socket=" + e.socket,
		"-key=" + strconv.Itoa(e.key), "-session=" + strconv.Itoa(e.session), "-sys=" + e.sysFile, "-tag=" + tag}
	if bomb {
		a = append(a, "-bomb")
	}
	return a
}

// escSetup copies the probe, starts a root victim (as root; else picks an
// existing root process), listens on a root-only socket (as root), puts a
// key in the caller's session keyring and finds a root-owned writable
// sysfs file.
func escSetup(t *testing.T) *escEnv {
	t.Helper()
	e := &escEnv{share: shareSetup(t), results: map[string]map[string]string{}}
	e.launcher = e.share.bin
	e.probe = victimCopy(t, "escprobe")
	e.dir = filepath.Dir(e.probe)

	if root() {
		e.victim = escStartVictim(t)
		e.sibling = e.startSibling(t)
		priv := filepath.Join(e.dir, "private")
		if err := os.Mkdir(priv, 0o700); err != nil {
			t.Fatal(err)
		}
		e.socket = filepath.Join(priv, "root.sock")
		l, err := net.Listen("unix", e.socket)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	} else {
		e.victim = escRootProcess(t)
	}

	// The key goes into the keyring that this process's children have as
	// their session keyring (its own, or the user-session keyring it
	// falls back to), without installing one on some thread.
	ring, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		t.Fatalf("keyctl GET_KEYRING_ID session: %v", err)
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	key, err := unix.AddKey("user", fmt.Sprintf("nsfork-escape-%d", os.Getpid()), []byte(hex.EncodeToString(secret)), ring)
	if err != nil {
		t.Fatalf("add_key to the session keyring %d: %v", ring, err)
	}
	t.Cleanup(func() {
		unix.KeyctlInt(unix.KEYCTL_REVOKE, key, 0, 0, 0)
		unix.KeyctlInt(unix.KEYCTL_UNLINK, key, ring, 0, 0)
	})
	e.key, e.session = key, ring

	for _, p := range []string{"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/ksm/run", "/sys/power/state", "/sys/kernel/profiling"} {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Uid == 0 && st.Mode&0o200 != 0 {
			e.sysFile = p
			break
		}
	}
	return e
}

// escStartVictim starts `sleep 300` as host root. Its pid is never one of
// the few a sandbox's own pid namespace has when the probe attacks it (the
// fork bomb comes last): after boot the kernel hands out no pid below 300.
func escStartVictim(t *testing.T) int {
	t.Helper()
	c := exec.Command("sleep", "300")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c.Process.Pid
}

// startSibling starts `sleep 300` in another job's --preset mpi sandbox
// (host pid namespace, a range of host ids of its own) and returns the
// sleep's host pid: a neighbour that the probe's sandboxes must not reach.
func (e *escEnv) startSibling(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := e.share.cmd(ctx, []string{"PMIX_NAMESPACE=nsfork-escape-sibling-" + strconv.Itoa(os.Getpid())}, "--preset", "mpi", "--", "sleep", "300")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ents, _ := os.ReadDir("/proc")
		for _, d := range ents {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			st, err := statusFields("/proc/"+d.Name()+"/status", "PPid", "Name")
			if err != nil || st["PPid"] != strconv.Itoa(c.Process.Pid) || st["Name"] != "sleep" {
				continue
			}
			// Killed through a pidfd: never another process that got
			// the pid later.
			if fd, err := unix.PidfdOpen(pid, 0); err == nil {
				t.Cleanup(func() {
					unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
					unix.Close(fd)
				})
			}
			return pid
		}
	}
	t.Fatalf("the sibling sandbox's sleep did not start")
	return 0
}

// escRootProcess is the host root process (not a kernel thread) with the
// highest pid: the victim a non-root caller can name.
func escRootProcess(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	best := 0
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid <= best || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+d.Name(), &st) != nil || st.Uid != 0 {
			continue
		}
		if cl, err := os.ReadFile("/proc/" + d.Name() + "/cmdline"); err != nil || len(cl) == 0 {
			continue
		}
		best = pid
	}
	require(t, best > 0, "a host process of root (not a kernel thread) to attack")
	return best
}

type escRun struct {
	lines []string // "ATTACK\tVERDICT\tDETAIL"
	out   string   // everything else the probe or the launcher printed
}

// escHostCheck runs `true` on the host while the fork bomb holds its
// processes: it must succeed within a second.
func escHostCheck(t *testing.T, mode string) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := exec.CommandContext(ctx, "true").Run()
	if d := time.Since(start); err != nil || d > time.Second {
		t.Errorf("%s: while the fork bomb held its processes, `true` on the host took %v: %v", mode, d.Round(time.Millisecond), err)
	} else {
		t.Logf("%s: host responsive during the fork bomb (`true` in %v)", mode, d.Round(time.Millisecond))
	}
}

// escScan reads the probe's output: ESC lines are results, the bomb's
// peak triggers the host check, the rest is kept for error messages.
func escScan(t *testing.T, mode string, r io.Reader, run *escRun) {
	sc := bufio.NewScanner(r)
	var other strings.Builder
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "ESC "):
			run.lines = append(run.lines, strings.TrimPrefix(l, "ESC "))
		case strings.HasPrefix(l, bombPeak):
			t.Logf("%s: %s", mode, l)
			escHostCheck(t, mode)
		default:
			other.WriteString(l + "\n")
		}
	}
	run.out += other.String()
}

// cliRun runs the probe under sandboxrun with flags.
func (e *escEnv) cliRun(t *testing.T, mode string, env, flags []string, probe string, bomb bool) escRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append(append(append([]string{}, flags...), "--", probe, escArg), e.argv(e.launcher, bomb)...)
	c := e.share.cmd(ctx, env, args...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var run escRun
	escScan(t, mode, stdout, &run)
	err = c.Wait()
	run.out += stderr.String()
	if err != nil {
		t.Errorf("%s: sandboxrun %q: %v (ctx %v): %s", mode, args, err, ctx.Err(), run.out)
	}
	return run
}

// apiOpts is Default() with the probe's directory bound read-only onto
// itself (the CLI modes get the same with --ro-bind): visible whatever
// view of the host the defaults give.
func (e *escEnv) apiOpts() *sandbox.Options {
	o := sandbox.Default()
	o.Mounts = append(o.Mounts, specs.Mount{Destination: e.dir, Source: e.dir, Type: "bind", Options: []string{"rbind", "rro"}})
	return o
}

// funcRun runs the probe as a registered function (fork.Call), or in a
// one-child Pool.
func (e *escEnv) funcRun(t *testing.T, mode string, opts *sandbox.Options, pool, bomb bool) escRun {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pw, run, finish := escPipe(t, mode)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var lines []string
	if pool {
		p, perr := fork.NewPool(opts, 1)
		if perr != nil {
			finish()
			t.Fatalf("%s: NewPool: %v", mode, perr)
		}
		var res []any
		res, err = p.Call(ctx, "escape.probe", e.argv(self, bomb), pw)
		if err == nil {
			lines, _ = res[0].([]string)
		}
		if cerr := p.Close(); cerr != nil {
			t.Logf("%s: pool Close: %v", mode, cerr)
		}
	} else {
		lines, err = fork.Call[[]string](ctx, "escape.probe", opts, e.argv(self, bomb), pw)
	}
	finish()
	if err != nil {
		t.Errorf("%s: %v: %s", mode, err, run.out)
	}
	run.lines = append(run.lines, lines...)
	return *run
}

// cmdRun runs the probe binary with Config.StartCommand.
func (e *escEnv) cmdRun(t *testing.T, mode string, opts *sandbox.Options) escRun {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pw, run, finish := escPipe(t, mode)
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := &fork.Config{Stdout: pw, Stderr: &stderr}
	p, err := c.StartCommand(ctx, opts, append([]string{e.probe, escArg}, e.argv(self, false)...)...)
	if err == nil {
		err = p.Wait()
	}
	finish()
	run.out += stderr.String()
	if err != nil {
		t.Errorf("%s: %v: %s", mode, err, run.out)
	}
	return *run
}

// escPipe is the pipe the probe reports on: pw goes to the probe, the scan
// fills run, and finish closes pw and waits for the scan to end.
func escPipe(t *testing.T, mode string) (pw *os.File, run *escRun, finish func()) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	run = &escRun{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		escScan(t, mode, pr, run)
	}()
	return pw, run, func() {
		pw.Close()
		<-done
		pr.Close()
	}
}

// unsandboxedRun runs the probe as a plain child of the test.
func (e *escEnv) unsandboxedRun(t *testing.T, mode string) escRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, e.probe, append([]string{escArg}, e.argv(e.launcher, false)...)...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var run escRun
	escScan(t, mode, stdout, &run)
	if err := c.Wait(); err != nil {
		t.Errorf("%s: %v: %s", mode, err, stderr.String())
	}
	return run
}

// escBundle makes runc spec's bundle (makeBundle) with the probe in its
// rootfs, the host libraries a cgo build of it needs, the root-owned
// directories the probe attacks, and mount points for the probe's
// directory.
func (e *escEnv) escBundle(t *testing.T) (dir, probe string) {
	t.Helper()
	dir = makeBundle(t)
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"etc", "usr/bin", e.dir} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.probe)
	if err != nil {
		t.Fatal(err)
	}
	probe = "/bin/escprobe"
	if err := os.WriteFile(filepath.Join(rootfs, probe), b, 0o755); err != nil {
		t.Fatal(err)
	}
	// A cgo build is linked dynamically: copy what ldd names.
	if out, err := exec.Command("ldd", e.probe).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if !strings.HasPrefix(f, "/") {
				continue
			}
			lib, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("ldd %s: %v", e.probe, err)
			}
			if err := os.MkdirAll(filepath.Join(rootfs, filepath.Dir(f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, f), lib, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, probe
}

// escCheck asserts that no attack of run escaped, except those in
// notAsserted (attack classes, the first word: reported, not asserted),
// that the probe ran to its end, and that every class in want was tried.
// It records the verdicts for the summary.
func (e *escEnv) escCheck(t *testing.T, mode string, run escRun, want []string, notAsserted ...string) {
	t.Helper()
	got := map[string]string{}
	classes := map[string]bool{}
	for _, l := range run.lines {
		f := strings.SplitN(l, "\t", 3)
		if len(f) != 3 {
			t.Errorf("%s: bad probe line %q", mode, l)
			continue
		}
		attack, verdict, detail := f[0], f[1], f[2]
		class, _, _ := strings.Cut(attack, " ")
		classes[class] = true
		got[attack] = verdict
		if verdict != escNA {
			// The errno (or what worked) goes into the summary.
			if len(detail) > 60 {
				detail = detail[:57] + "..."
			}
			got[attack] = verdict + " (" + detail + ")"
		}
		skip := false
		for _, c := range notAsserted {
			skip = skip || c == class
		}
		switch {
		case verdict == escEscaped && !skip:
			t.Errorf("ESCAPE: mode %q, attack %q succeeded: %s", mode, attack, detail)
		case verdict == escEscaped && len(notAsserted) < len(escWant):
			t.Logf("%s: %s succeeded (not asserted in this mode): %s", mode, attack, detail)
		}
	}
	if !classes["done"] {
		t.Errorf("%s: the probe did not finish; it reported %q; output %s", mode, run.lines, run.out)
	}
	for _, c := range want {
		if !classes[c] {
			t.Errorf("%s: the probe reported no %q attack: %q", mode, c, run.lines)
		}
	}
	delete(got, "done")
	e.mu.Lock()
	e.results[mode] = got
	e.mu.Unlock()
}

// escWant are the attack classes every run reports.
var escWant = []string{"proc-sys", "sysfs", "cgroup", "host-file", "launcher-exe", "victim", "sibling", "root-socket", "keyring", "userns"}

// TestEscape runs the escape probe in every mode, as the caller (root or
// not) of this test binary (cgo on or off as it was built), and asserts
// that every attack fails; the same probe, unsandboxed, shows which of
// them work when nothing stops them.
func TestEscape(t *testing.T) {
	start := time.Now()
	e := escSetup(t)
	// The probe's directory is bound read-only onto itself in every mode,
	// so that the probe (and the root-only socket) stay visible whatever
	// view of the host the defaults give (a private /tmp, issue 18).
	ro := []string{"--ro-bind", e.dir}

	t.Run("Control", func(t *testing.T) {
		run := e.unsandboxedRun(t, "unsandboxed")
		e.escCheck(t, "unsandboxed", run, escWant, escWant...)
		// What must have worked, unsandboxed, for the probe to prove
		// anything: as root everything it tries; otherwise the attacks
		// on the caller's own keyring and the nested user namespace.
		must := []string{"keyring read", "keyring session", "userns nested"}
		if root() {
			must = append(must, "proc-sys", "sysfs", "cgroup root", "cgroup own", "host-file access(W_OK)", "host-file create",
				"victim kill(0)", "victim ptrace", "victim environ", "sibling kill(0)", "sibling ptrace", "sibling environ", "root-socket")
		}
		for _, m := range must {
			ok := false
			for attack, v := range e.results["unsandboxed"] {
				ok = ok || (strings.HasPrefix(attack, m) && strings.HasPrefix(v, escEscaped))
			}
			if !ok {
				t.Errorf("unsandboxed, no %q attack succeeded: the probe is broken (%s)", m, e.verdicts("unsandboxed", m))
			}
		}
		if root() {
			// Host root in a sandbox, for trusted code only: reported.
			run := e.cliRun(t, "--host-root --seccomp unconfined", nil, append([]string{"--host-root", "--seccomp", "unconfined"}, ro...), e.probe, false)
			e.escCheck(t, "--host-root --seccomp unconfined", run, escWant, escWant...)
		}
	})

	limitFlags := []string{"--memory", "64m", "--pids", "100"}
	if !root() {
		limitFlags = append(limitFlags, "--cgroups-best-effort")
	}
	cli := []struct {
		mode        string
		flags       []string
		env         []string
		bomb        bool
		notAsserted []string
	}{
		{mode: "defaults", bomb: true},
		{mode: "--read-only", flags: []string{"--read-only"}},
		// Cgroups of its own (rootless on a host that delegates none:
		// without them), which it must not be able to change or leave.
		{mode: "--memory 64m --pids 100", flags: limitFlags},
		{mode: "--unshare-all --proc --dev", flags: []string{"--unshare-all", "--proc", "--dev"}},
		// Another job than the sibling's.
		{mode: "--preset mpi", flags: []string{"--preset", "mpi"}, env: []string{"PMIX_NAMESPACE=nsfork-escape-" + strconv.Itoa(os.Getpid())}},
		{mode: "--share-ns", flags: []string{"--share-ns", fmt.Sprintf("escape-%d", os.Getpid())}},
		// The default profile blocks keyctl, which would hide the keyring
		// isolation; without seccomp a nested user namespace is allowed.
		{mode: "--seccomp unconfined", flags: []string{"--seccomp", "unconfined"}, notAsserted: []string{"userns"}},
		{mode: "--preset mpi --seccomp unconfined", flags: []string{"--preset", "mpi", "--seccomp", "unconfined"}, env: []string{"PMIX_NAMESPACE=nsfork-escape-" + strconv.Itoa(os.Getpid())}, notAsserted: []string{"userns"}},
		{mode: "--share-ns --seccomp unconfined", flags: []string{"--share-ns", fmt.Sprintf("escape-u-%d", os.Getpid()), "--seccomp", "unconfined"}, notAsserted: []string{"userns"}},
	}
	withBomb := append(escWant[:len(escWant):len(escWant)], "fork-bomb")
	// The two fork-bomb modes run first, one after the other, alone: on a
	// loaded machine a bomb that shares it may not reach the limit within
	// bombTime. The other modes then run in parallel.
	t.Run("Modes", func(t *testing.T) {
		for _, c := range cli {
			t.Run("CLI/"+c.mode, func(t *testing.T) {
				want := escWant
				if c.bomb {
					want = withBomb
				} else {
					t.Parallel()
				}
				run := e.cliRun(t, c.mode, c.env, append(append([]string{}, c.flags...), ro...), e.probe, c.bomb)
				e.escCheck(t, c.mode, run, want, c.notAsserted...)
			})
		}
		t.Run("CLI/bundle", func(t *testing.T) {
			t.Parallel()
			dir, probe := e.escBundle(t)
			run := e.cliRun(t, "bundle", nil, append([]string{"run", "--bundle", dir}, ro...), probe, false)
			// runc spec's config has no seccomp profile: a nested user
			// namespace is the config's to allow.
			e.escCheck(t, "bundle", run, escWant, "userns")
		})
		t.Run("API/function", func(t *testing.T) {
			run := e.funcRun(t, "API function", e.apiOpts(), false, true)
			e.escCheck(t, "API function", run, withBomb)
		})
		t.Run("API/function-unconfined", func(t *testing.T) {
			t.Parallel()
			o := e.apiOpts()
			o.Seccomp = nil
			run := e.funcRun(t, "API function, no seccomp", o, false, false)
			e.escCheck(t, "API function, no seccomp", run, escWant, "userns")
		})
		t.Run("API/command", func(t *testing.T) {
			t.Parallel()
			run := e.cmdRun(t, "API command", e.apiOpts())
			e.escCheck(t, "API command", run, escWant)
		})
		t.Run("API/pool", func(t *testing.T) {
			t.Parallel()
			run := e.funcRun(t, "API pool", e.apiOpts(), true, false)
			e.escCheck(t, "API pool", run, escWant)
		})
		// The keyring without seccomp, in the other two ways children start.
		t.Run("API/command-unconfined", func(t *testing.T) {
			t.Parallel()
			o := e.apiOpts()
			o.Seccomp = nil
			run := e.cmdRun(t, "API command, no seccomp", o)
			e.escCheck(t, "API command, no seccomp", run, escWant, "userns")
		})
		t.Run("API/pool-unconfined", func(t *testing.T) {
			t.Parallel()
			o := e.apiOpts()
			o.Seccomp = nil
			run := e.funcRun(t, "API pool, no seccomp", o, true, false)
			e.escCheck(t, "API pool, no seccomp", run, escWant, "userns")
		})
	})

	e.summary(t)
	t.Logf("escape suite: %v", time.Since(start).Round(100*time.Millisecond))
}

// verdicts lists mode's verdicts on the attacks whose names start with
// prefix.
func (e *escEnv) verdicts(mode, prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var l []string
	for a, v := range e.results[mode] {
		if strings.HasPrefix(a, prefix) {
			l = append(l, a+": "+v)
		}
	}
	sort.Strings(l)
	return strings.Join(l, "; ")
}

// summary logs the table of mode x attack class x verdict.
func (e *escEnv) summary(t *testing.T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	modes := make([]string, 0, len(e.results))
	for m := range e.results {
		modes = append(modes, m)
	}
	sort.Strings(modes)
	var b strings.Builder
	user := "uid " + strconv.Itoa(os.Geteuid())
	fmt.Fprintf(&b, "escape results as %s, cgo %v:\n", user, escCgo())
	for _, m := range modes {
		attacks := make([]string, 0, len(e.results[m]))
		for a := range e.results[m] {
			attacks = append(attacks, a)
		}
		sort.Strings(attacks)
		fmt.Fprintf(&b, "  %s:\n", m)
		for _, a := range attacks {
			fmt.Fprintf(&b, "    %-56s %s\n", a, e.results[m][a])
		}
	}
	t.Log(b.String())
}

// escCgo reports whether this test binary was built with cgo.
func escCgo() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" {
				return s.Value == "1"
			}
		}
	}
	return false
}
