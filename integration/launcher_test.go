package integration

// Launcher integrity: from inside every mode (the CLI's defaults, --preset
// mpi, --share-ns, and the Go API in function and command mode, with and
// without a pid namespace of its own), the sandbox tries to stop, kill,
// trace and open a pidfd of the process that started it and of that
// process's parent, found through its PPID, a /proc scan and kill(-1);
// every attempt fails, the launcher is never stopped, and its timeout
// ends the sandbox within the timeout plus the kill-after.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

const (
	attackArg   = "-nsfork.launcher.attack" // the test binary as the attacker command
	apiArg      = "-nsfork.launcher.api"    // the test binary as a Go API launcher
	attackMark  = "NSFORK_ATTACK_MARK"      // what the /proc scan looks for in a cmdline
	attackBin   = "NSFORK_ATTACK_BIN"       // the launcher's binary, to write or replace
	attackDone  = "ATTACKED"                // the attacker's last line before it waits
	attackLimit = 60 * time.Second          // how long the attacker waits to be killed
)

func init() {
	fork.RegisterFunc("launcher.attack", func(mark string) error {
		attack(os.Stdout, mark)
		select {}
	})
	if len(os.Args) > 1 && os.Args[1] == attackArg {
		attack(os.Stdout, os.Getenv(attackMark))
		time.Sleep(attackLimit)
		os.Exit(0)
	}
	if len(os.Args) > 2 && os.Args[1] == apiArg {
		os.Exit(apiLauncher(os.Args[2]))
	}
}

// attack tries everything against each process that may be the launcher
// or its parent, writes one line per target and then attackDone, and
// leaves SIGTERM ignored, so that only a kill ends it.
func attack(w io.Writer, mark string) {
	signal.Ignore(syscall.SIGTERM)
	self := os.Getpid()
	targets := map[int]string{}
	add := func(pid int, how string) {
		if pid > 0 && pid != self {
			if targets[pid] == "" {
				targets[pid] = how
			} else if !strings.Contains(targets[pid], how) {
				targets[pid] += "+" + how
			}
		}
	}
	ppid := os.Getppid()
	add(ppid, "ppid")
	add(parentOf(ppid), "ppid-of-ppid")
	if mark != "" {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(b, []byte(mark)) {
				add(pid, "scan")
				add(parentOf(pid), "scan-parent")
			}
		}
	}
	for pid, how := range targets {
		r := map[string]string{}
		r["stop"] = errnoString(unix.Kill(pid, unix.SIGSTOP))
		r["state-after-stop"] = procState(pid)
		unix.Kill(pid, unix.SIGCONT)
		r["term"] = errnoString(unix.Kill(pid, unix.SIGTERM))
		r["kill"] = errnoString(unix.Kill(pid, unix.SIGKILL))
		tk := "no threads"
		for _, tid := range tidsOf(pid) {
			if tid != pid {
				tk = errnoString(unix.Tgkill(pid, tid, 0))
				if e := unix.Kill(tid, unix.SIGSTOP); e == nil {
					tk = "kill(tid) ok"
				}
				break
			}
		}
		r["thread"] = tk
		r["ptrace"] = ptraceAttach(pid)
		fd, err := unix.PidfdOpen(pid, 0)
		r["pidfd_open"] = errnoString(err)
		if err == nil {
			r["pidfd_send_signal"] = errnoString(unix.PidfdSendSignal(fd, unix.SIGSTOP, nil, 0))
			unix.Close(fd)
		}
		r["alive"] = fmt.Sprint(unix.Kill(pid, 0) != unix.ESRCH)
		r["state"] = procState(pid)
		fmt.Fprintf(w, "target %d %s %s\n", pid, how, encodeResults(r))
	}
	if bin := os.Getenv(attackBin); bin != "" {
		fmt.Fprintf(w, "launcher-binary %s\n", replaceBinary(bin))
	}
	// kill(-1) reaches every process the sandbox may signal. The signal is
	// 0 (a permission check) and SIGURG (ignored by default): were the
	// guard broken, nothing else on the machine would suffer.
	fmt.Fprintf(w, "kill-1 %s %s\n", errnoString(unix.Kill(-1, 0)), errnoString(unix.Kill(-1, unix.SIGURG)))
	fmt.Fprintln(w, attackDone)
}

// replaceBinary tries to write the launcher's binary and to rename a copy
// over it. The copy has the same bytes: were the attack to succeed,
// nothing would change but the test's verdict.
func replaceBinary(bin string) string {
	f, err := os.OpenFile(bin, os.O_WRONLY, 0)
	write := errnoString(err)
	if err == nil {
		f.Close()
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return "write=" + write + " replace=read:" + errnoString(err)
	}
	tmp := bin + ".attack"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return "write=" + write + " replace=create:" + errnoString(err)
	}
	err = os.Rename(tmp, bin)
	os.Remove(tmp)
	return "write=" + write + " replace=" + errnoString(err)
}

func ptraceAttach(pid int) string {
	done := make(chan string, 1)
	go func() {
		// ptrace is per thread: a thread of its own, never given back.
		runtime.LockOSThread()
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, 0, 0, 0)
		if e == 0 {
			unix.PtraceDetach(pid)
		}
		done <- errnoString(errnoOrNil(e))
	}()
	return <-done
}

func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "gone"
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return "?"
}

func tidsOf(pid int) []int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var out []int
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, t)
		}
	}
	return out
}

func encodeResults(r map[string]string) string {
	var parts []string
	for _, k := range []string{"stop", "state-after-stop", "term", "kill", "thread", "ptrace", "pidfd_open", "pidfd_send_signal", "alive", "state"} {
		if v, ok := r[k]; ok {
			parts = append(parts, k+"="+strings.ReplaceAll(v, " ", "_"))
		}
	}
	return strings.Join(parts, " ")
}

// attackLine is one target of the attacker's report.
type attackLine struct {
	pid  int
	how  string
	r    map[string]string
	text string
}

func parseAttack(out string) (lines []attackLine, kill1, binary string, done bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "target":
			pid, _ := strconv.Atoi(f[1])
			a := attackLine{pid: pid, how: f[2], r: map[string]string{}, text: l}
			for _, kv := range f[3:] {
				k, v, _ := strings.Cut(kv, "=")
				a.r[k] = v
			}
			lines = append(lines, a)
		case len(f) >= 1 && f[0] == "kill-1":
			kill1 = strings.Join(f[1:], " ")
		case len(f) >= 1 && f[0] == "launcher-binary":
			binary = strings.Join(f[1:], " ")
		case l == attackDone:
			done = true
		}
	}
	return
}

// launcherCase is one mode of the launcher tests.
type launcherCase struct {
	name string
	// sharedPid: the sandbox shares the launcher's pid namespace, so the
	// launcher and its parent are among the targets and kill(-1) meets
	// the seccomp guard.
	sharedPid bool
}

// checkAttack asserts the attacker's report: every attempt on a process
// outside the sandbox failed and left it running and not stopped; the
// sandbox's own pid 1 (a pid namespace of its own) was not stopped or
// traced either.
func checkAttack(t *testing.T, c launcherCase, out string, outside map[int]bool) {
	t.Helper()
	lines, kill1, binary, done := parseAttack(out)
	if !done {
		t.Fatalf("%s: the attacker did not finish:\n%s", c.name, out)
	}
	if strings.Contains(binary, "=ok") {
		t.Errorf("%s: the launcher's binary could be written or replaced: %s", c.name, binary)
	}
	seen := map[int]bool{}
	for _, a := range lines {
		seen[a.pid] = true
		if a.r["state-after-stop"] == "T" || a.r["state"] == "T" {
			t.Errorf("%s: pid %d (%s) was stopped: %s", c.name, a.pid, a.how, a.text)
		}
		if a.r["ptrace"] == "ok" {
			t.Errorf("%s: ptrace of pid %d (%s) succeeded: %s", c.name, a.pid, a.how, a.text)
		}
		if a.r["alive"] != "true" {
			t.Errorf("%s: pid %d (%s) is gone after the attack: %s", c.name, a.pid, a.how, a.text)
		}
		if a.pid == 1 && !c.sharedPid {
			continue // the sandbox's own pid 1: unkillable from inside, checked above
		}
		// The launcher and its parent are in the seccomp guard: not even a
		// pidfd of them can be had. Any other process found (under srun,
		// the srun client and its helpers) is out of reach of signals and
		// ptrace (Landlock); a pidfd of it can be opened, not used.
		keys := []string{"stop", "term", "kill", "thread", "pidfd_send_signal"}
		if strings.Contains(a.how, "ppid") {
			keys = append(keys, "pidfd_open")
		}
		for _, k := range keys {
			if v := a.r[k]; v == "ok" || v == "kill(tid)_ok" {
				t.Errorf("%s: %s on pid %d (%s) succeeded: %s", c.name, k, a.pid, a.how, a.text)
			}
		}
	}
	if c.sharedPid {
		var launcher, parent bool
		for _, a := range lines {
			launcher = launcher || a.how == "ppid" || strings.HasPrefix(a.how, "ppid+")
			parent = parent || strings.Contains(a.how, "ppid-of-ppid")
		}
		if !launcher || !parent {
			t.Errorf("%s: the attacker did not find the launcher and its parent through its PPID: %s", c.name, out)
		}
		for pid := range outside {
			if !seen[pid] {
				t.Errorf("%s: the attacker did not find pid %d (the launcher or its parent): %s", c.name, pid, out)
			}
		}
		if !strings.HasPrefix(kill1, "EPERM") {
			t.Errorf("%s: kill(-1, 0) = %s, want EPERM", c.name, kill1)
		}
	} else {
		for _, a := range lines {
			if a.pid != 1 && outside[a.pid] {
				t.Errorf("%s: pid %d of the launcher's namespace is visible inside: %s", c.name, a.pid, a.text)
			}
		}
	}
	t.Logf("%s:\n%s", c.name, out)
}

// watchStopped samples the state of each pid until stop is closed, and
// counts the samples in which one was stopped.
func watchStopped(pids func() []int, stop <-chan struct{}) *atomic.Int32 {
	var n atomic.Int32
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			for _, p := range pids() {
				if s := procState(p); s == "T" || s == "t" {
					n.Add(1)
				}
			}
		}
	}()
	return &n
}

// attackerCopy copies this test binary into a new world-readable directory
// that the CLI binds read-only into the sandbox at the same path.
func attackerCopy(t *testing.T) (dir, bin string) {
	t.Helper()
	return testBinaryCopy(t, "attacker")
}

// slack is what a loaded 2-core VM may add to a timeout: far less than
// the attacker's own wait, so that a timeout that did not hold fails.
const slack = 10 * time.Second

func TestLauncherIntegrityCLI(t *testing.T) {
	bin := sandboxrunBin(t)
	dir, attacker := attackerCopy(t)
	xdg, err := os.MkdirTemp("", "nsfork-attack-xdg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(xdg) })
	job := fmt.Sprintf("attack-%d", os.Getpid())
	cases := []struct {
		launcherCase
		args []string
		srun bool // a Slurm step: the launcher's parent is slurmstepd
	}{
		{launcherCase{"defaults", false}, nil, false},
		{launcherCase{"preset mpi", true}, []string{"--preset", "mpi"}, false},
		{launcherCase{"share pid", true}, []string{"--share", "pid"}, false},
		{launcherCase{"share-ns", false}, []string{"--share-ns", job}, false},
		{launcherCase{"srun preset mpi", true}, []string{"--preset", "mpi"}, true},
		{launcherCase{"srun share-ns", false}, []string{"--share-ns", job + "-srun"}, true},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			args := append(append([]string{"--timeout", "1s", "--kill-after", "1s", "--ro-bind", dir}, c.args...), "--", attacker, attackArg)
			argv := append([]string{bin}, args...)
			if c.srun {
				ok, why := slurmUp()
				require(t, ok, why)
				argv = append([]string{"srun", "-n", "1", "--time=5"}, argv...)
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), attackMark+"="+dir, attackBin+"="+bin, "XDG_RUNTIME_DIR="+xdg)
			// A --share-ns rank starts in its launcher's directory, which
			// must exist in the job's view: dir is bound into it.
			cmd.Dir = dir
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			// The launcher is found by its arguments: under srun it is
			// slurmstepd's child, not ours.
			launchers := func() []int {
				return append(scanCmdline(bin+"\x00"+strings.Join(args, "\x00")), cmd.Process.Pid, os.Getpid())
			}
			stopped := watchStopped(launchers, stop)
			// Under srun the launcher and its parent (slurmstepd) are not
			// known here: checkAttack wants both found through the PPID.
			var outside map[int]bool
			if !c.srun {
				outside = map[int]bool{cmd.Process.Pid: true, os.Getpid(): true}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(attackLimit + slack):
				cmd.Process.Kill()
				<-done
				t.Fatalf("%v did not end; stdout %q stderr %q", argv, out.String(), errb.String())
			}
			took := time.Since(start)
			close(stop)
			if n := stopped.Load(); n > 0 {
				t.Errorf("sandboxrun or its parent was seen stopped %d times", n)
			}
			code := cmd.ProcessState.ExitCode()
			t.Logf("exit %d after %v; stderr %q", code, took, errb.String())
			if code != 137 {
				t.Errorf("exit %d, want 137 (killed after --kill-after); stderr %q", code, errb.String())
			}
			if took > 2*time.Second+slack {
				t.Errorf("--timeout 1s --kill-after 1s took %v", took)
			}
			checkAttack(t, c.launcherCase, out.String(), outside)
		})
	}
}

// scanCmdline lists the processes whose command line starts with prefix.
func scanCmdline(prefix string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(b), prefix) {
			out = append(out, pid)
		}
	}
	return out
}

// apiLauncher is the test binary as a Go API launcher: it starts the
// attacker in mode (func or command, each with or without a pid namespace
// of its own), cancels its context after a second and prints how long
// Wait took.
func apiLauncher(mode string) int {
	fork.Init()
	opts := sandbox.Default()
	if strings.HasSuffix(mode, "-sharedpid") {
		opts.WithoutNamespaces(specs.PIDNamespace)
	}
	if dir := os.Getenv("NSFORK_ATTACK_DIR"); dir != "" {
		opts.Mounts = append(opts.Mounts, specs.Mount{Destination: dir, Source: dir, Type: "bind", Options: []string{"rbind", "rro"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	c := &fork.Config{Stdout: os.Stdout, Stderr: os.Stderr}
	var p *fork.Process
	var err error
	if strings.HasPrefix(mode, "command") {
		p, err = c.StartCommand(ctx, opts, os.Getenv("NSFORK_ATTACKER"), attackArg)
	} else {
		p, err = c.Start(ctx, "launcher.attack", opts, os.Getenv(attackMark))
	}
	if err != nil {
		fmt.Printf("START %v\n", err)
		return 1
	}
	werr := p.Wait()
	fmt.Printf("WAITED %d %v\n", time.Since(start).Milliseconds(), werr)
	return 0
}

func TestLauncherIntegrityAPI(t *testing.T) {
	dir, attacker := attackerCopy(t)
	for _, c := range []launcherCase{{"func", false}, {"func-sharedpid", true}, {"command", false}, {"command-sharedpid", true}} {
		t.Run(c.name, func(t *testing.T) {
			// dir, unique to this run, marks the launcher for the /proc scan.
			cmd := exec.Command(os.Args[0], apiArg, c.name, dir)
			cmd.Env = append(os.Environ(), attackMark+"="+dir, "NSFORK_ATTACKER="+attacker, "NSFORK_ATTACK_DIR="+dir)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			stopped := watchStopped(func() []int { return []int{cmd.Process.Pid, os.Getpid()} }, stop)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(attackLimit + slack):
				cmd.Process.Kill()
				<-done
				t.Fatalf("the launcher did not end; stdout %q stderr %q", out.String(), errb.String())
			}
			took := time.Since(start)
			close(stop)
			if n := stopped.Load(); n > 0 {
				t.Errorf("the launcher or its parent was seen stopped %d times", n)
			}
			if strings.Contains(out.String(), "START ") {
				t.Fatalf("start: %s %s", out.String(), errb.String())
			}
			var ms int
			if i := strings.Index(out.String(), "WAITED "); i < 0 {
				t.Errorf("the launcher did not return from Wait: %q %q", out.String(), errb.String())
			} else {
				fmt.Sscan(out.String()[i+len("WAITED "):], &ms)
			}
			t.Logf("Wait returned after %d ms; the launcher ended after %v", ms, took)
			if time.Duration(ms)*time.Millisecond > time.Second+slack || took > time.Second+2*slack {
				t.Errorf("context cancellation after 1s: Wait took %d ms, the launcher %v", ms, took)
			}
			checkAttack(t, c, out.String(), map[int]bool{cmd.Process.Pid: true, os.Getpid(): true})
		})
	}
}

// TestLauncherTimeoutKillsEscapees: a command that ignores SIGTERM and
// leaves a process in a session of its own (setsid) is ended with it by
// --kill-after, in every mode: in a pid namespace of its own with its pid
// 1; sharing sandboxrun's, by sandboxrun as the sandbox's child subreaper.
func TestLauncherTimeoutKillsEscapees(t *testing.T) {
	sandboxrunBin(t)
	setsid, err := exec.LookPath("setsid")
	require(t, err == nil, "setsid (util-linux) is missing")
	for i, mode := range [][]string{nil, {"--preset", "mpi"}, {"--share", "pid"}} {
		// A number no other sleep on the machine has.
		secs := strconv.Itoa(86400 + os.Getpid()%10000*10 + i)
		script := `trap "" TERM; ` + setsid + ` sleep ` + secs + ` </dev/null >/dev/null 2>&1 & sleep 30`
		args := append(append([]string{"--timeout", "1s", "--kill-after", "1s"}, mode...), "--", "/bin/sh", "-c", script)
		start := time.Now()
		r := sbx(t, "", args...)
		took := time.Since(start)
		if r.code != 137 || took > 2*time.Second+slack {
			t.Errorf("%v: exit %d after %v, want 137 within %v; stderr %q", mode, r.code, took, 2*time.Second+slack, r.err)
		}
		escaped := func() []int { return scanCmdline("sleep\x00" + secs + "\x00") }
		if !waitUntil(5*time.Second, func() bool { return len(escaped()) == 0 }) {
			left := escaped()
			for _, p := range left {
				unix.Kill(p, unix.SIGKILL)
			}
			t.Errorf("%v: the escaped sleep %s (pids %v) outlived --kill-after", mode, secs, left)
		}
	}
}
