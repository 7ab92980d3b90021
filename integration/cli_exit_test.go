package integration

// sandboxrun's exit codes, its own errors, signals forwarded to the
// command, and --timeout.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLIExitCodes: the command's code, 128+N, 124, 125, 126, 127.
func TestCLIExitCodes(t *testing.T) {
	for _, mode := range [][]string{nil, {"--share", "pid"}} {
		for _, c := range []struct {
			args []string
			code int
			err  string // a regexp stderr must match, "" for nothing
		}{
			{[]string{"/bin/sh", "-c", "exit 0"}, 0, ""},
			{[]string{"/bin/sh", "-c", "exit 1"}, 1, ""},
			{[]string{"/bin/sh", "-c", "exit 42"}, 42, ""},
			{[]string{"/bin/sh", "-c", "kill -USR1 $$"}, 128 + int(syscall.SIGUSR1), ""},
			{[]string{"/bin/sh", "-c", "kill -KILL $$"}, 128 + int(syscall.SIGKILL), ""},
			{[]string{"/etc/passwd"}, 126, `^sandboxrun: exec: .*/etc/passwd: permission denied \(EACCES\)\n$`},
			{[]string{"no-such-command-nsfork"}, 127, `^sandboxrun: exec: .*no-such-command-nsfork: no such file or directory \(ENOENT\)\n$`},
		} {
			args := append(append(append([]string{}, mode...), "--"), c.args...)
			r := sbx(t, "", args...)
			if r.code != c.code {
				t.Errorf("sandboxrun %q: exit %d, want %d (stderr %q)", args, r.code, c.code, r.err)
			}
			if c.err == "" && r.err != "" || c.err != "" && !regexp.MustCompile(c.err).MatchString(r.err) {
				t.Errorf("sandboxrun %q: stderr %q, want %q", args, r.err, c.err)
			}
		}
	}
}

// TestCLILauncherErrors: exit 125 with one line naming the step, the path
// and the errno.
func TestCLILauncherErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--chdir", "/nonexistent-nsfork", "--", "true"}, `^sandboxrun: cwd: chdir /nonexistent-nsfork: no such file or directory \(ENOENT\)\n$`},
		{[]string{"--no-such-flag", "--", "true"}, `^sandboxrun: unknown flag: --no-such-flag\n$`},
		{[]string{"--rlimit", "bogus=1", "--", "true"}, `^sandboxrun: --rlimit: unknown rlimit "bogus".*\n$`},
		{[]string{"--cap-add", "NOT_A_CAP", "--", "true"}, `^sandboxrun: --cap-add: unknown capability.*\n$`},
		{[]string{"--uid-map", "1:2", "--", "true"}, `^sandboxrun: --uid-map: "1:2" is not CONTAINER:HOST:SIZE\n$`},
		{[]string{"--bind", "/nonexistent-nsfork:/mnt", "--", "true"}, `^sandboxrun: invalid sandbox: mounts\[\d+\]\.source "/nonexistent-nsfork": bind source cannot be used.*\n$`},
		{[]string{"--seccomp", "/nonexistent-nsfork.json", "--", "true"}, `^sandboxrun: --seccomp /nonexistent-nsfork.json: .*no such file or directory.*\n$`},
		{[]string{"--timeout", "1s", "--kill-after", "-1s", "--", "true"}, `^sandboxrun: .*\n$`},
		{nil, `^sandboxrun: no command.*\n$`},
	} {
		r := sbx(t, "", c.args...)
		if r.code != 125 || !regexp.MustCompile(c.err).MatchString(r.err) {
			t.Errorf("sandboxrun %q: exit %d stderr %q; want 125 and %s", c.args, r.code, r.err, c.err)
		}
	}
	if !root() {
		// No cgroup delegation for uid 65534 here: a clear refusal, and
		// running anyway only when asked by name.
		r := sbx(t, "", "--memory", "64m", "--", "true")
		if r.code != 125 || !strings.Contains(r.err, "not delegated") || strings.Count(r.err, "\n") != 1 {
			t.Errorf("rootless --memory: exit %d stderr %q", r.code, r.err)
		}
		mustRun(t, "--memory", "64m", "--cgroups-best-effort", "--", "true")
	}
}

// TestCLISignalForwarding: signals sent to sandboxrun reach the command's
// trap, with and without a new pid namespace.
func TestCLISignalForwarding(t *testing.T) {
	bin := sandboxrunBin(t)
	// A seccomp profile that denies pidfd_send_signal (as runtime-tools'
	// default does) also binds the sandbox's pid 1, which forwards the
	// signals: they must still reach the command.
	noPidfdSignal := filepath.Join(tempDir(t), "no-pidfd-signal.json")
	if err := os.WriteFile(noPidfdSignal, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["pidfd_send_signal"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{nil, {"--share", "pid"}, {"--seccomp", noPidfdSignal}} {
		checkSignalForwarding(t, fmt.Sprint(mode), []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH},
			func(script string) *exec.Cmd {
				return exec.Command(bin, append(append(append([]string{}, mode...), "--"), "/bin/sh", "-c", script)...)
			}, nil)
	}
}

// checkSignalForwarding runs, for each signal, the sandboxrun command
// makes of a shell script that traps the signal, says ready and waits;
// sends the signal to sandboxrun once the script is ready, and asserts
// that the trap ran (its output) and that sandboxrun exits with the
// trap's 3. ready, when not nil, checks more once the script is ready.
func checkSignalForwarding(t *testing.T, label string, sigs []syscall.Signal, command func(script string) *exec.Cmd, ready func(name string, cmd *exec.Cmd)) {
	t.Helper()
	for _, sig := range sigs {
		name := strings.TrimPrefix(unixSignalName(sig), "SIG")
		script := fmt.Sprintf(`trap 'echo got-%s; exit 3' %s; echo ready; while :; do sleep 0.05; done`, name, name)
		cmd := command(script)
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(stdout)
		if l, _ := br.ReadString('\n'); l != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s %s: got %q, stderr %q", label, name, l, stderr.String())
		}
		if ready != nil {
			ready(name, cmd)
		}
		cmd.Process.Signal(sig)
		done := make(chan []byte, 1)
		go func() { rest, _ := io.ReadAll(br); cmd.Wait(); done <- rest }()
		var rest []byte
		select {
		case rest = <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s %s: sandboxrun did not exit (the signal did not reach the command?)", label, name)
		}
		if string(rest) != "got-"+name+"\n" || cmd.ProcessState.ExitCode() != 3 {
			t.Errorf("%s %s: output %q exit %d stderr %q; want the trap's output and exit 3", label, name, rest, cmd.ProcessState.ExitCode(), stderr.String())
		}
	}
}

func unixSignalName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP",
		syscall.SIGQUIT: "SIGQUIT", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2", syscall.SIGWINCH: "SIGWINCH"}[s]
}

// TestCLITimeout: SIGTERM at the deadline and exit 124; SIGKILL after
// --kill-after for a command that ignores SIGTERM, exit 137.
func TestCLITimeout(t *testing.T) {
	start := time.Now()
	r := sbx(t, "", "--timeout", "300ms", "--", "sleep", "30")
	if r.code != 124 || time.Since(start) > 20*time.Second {
		t.Errorf("--timeout: exit %d after %v, stderr %q", r.code, time.Since(start), r.err)
	}
	r = sbx(t, "", "--timeout", "300ms", "--kill-after", "300ms", "--", "/bin/sh", "-c", `trap '' TERM; sleep 30`)
	if r.code != 137 || !strings.Contains(r.err, "timed out") {
		t.Errorf("--kill-after: exit %d stderr %q", r.code, r.err)
	}
	mustRun(t, "--timeout", "30s", "--", "true")
}
