package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// TestCommandCapabilitySets checks, from the host, the capability sets of a
// command and of its launcher. In command mode the bounding set is dropped
// on the launcher's exec'ing thread only (one prctl per capability instead
// of an all-threads call each): the command must still get exactly the
// requested bounding set, and a pid-1 launcher must hold on every thread
// no more than the requested permitted and effective sets, with
// no_new_privs: what is left in the bounding set of its other threads can
// then never be gained (an execve under no_new_privs keeps at most the
// permitted set, and capset needs CAP_SETPCAP to go beyond it).
func TestCommandCapabilitySets(t *testing.T) {
	const bind = "0000000000000400" // CAP_NET_BIND_SERVICE
	for _, pidns := range []bool{true, false} {
		t.Run(fmt.Sprintf("pidns=%v", pidns), func(t *testing.T) {
			opts := sandbox.Default()
			keep := []string{"CAP_NET_BIND_SERVICE"}
			opts.Capabilities = &specs.LinuxCapabilities{Bounding: keep, Permitted: keep, Effective: keep}
			if !pidns {
				opts.WithoutNamespaces(specs.PIDNamespace)
			}
			p, err := (&fork.Config{}).StartCommand(context.Background(), opts, "sleep", "30")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { p.Kill(); p.Wait() }()
			cmdPid := p.Pid
			if pidns {
				cmdPid = waitChild(t, p.Pid)
				for _, task := range tasks(t, p.Pid) {
					f, err := statusFields(task, "CapPrm", "CapEff", "CapAmb", "NoNewPrivs")
					if err != nil {
						t.Fatal(err)
					}
					if f["CapPrm"] != bind || f["CapEff"] != bind || f["CapAmb"] != "0000000000000000" || f["NoNewPrivs"] != "1" {
						t.Errorf("launcher (pid 1) thread %s: %v, want permitted and effective %s only, no ambient and no_new_privs", task, f, bind)
					}
				}
			} else {
				waitComm(t, p.Pid, "sleep")
			}
			for _, task := range tasks(t, cmdPid) {
				f, err := statusFields(task, "CapBnd", "CapPrm", "CapEff", "NoNewPrivs")
				if err != nil {
					t.Fatal(err)
				}
				if f["CapBnd"] != bind || f["CapPrm"] != bind || f["CapEff"] != bind || f["NoNewPrivs"] != "1" {
					t.Errorf("command thread %s: %v, want bounding, permitted and effective %s and no_new_privs", task, f, bind)
				}
			}
		})
	}
}

// tasks lists /proc/<pid>/task/<tid>/status of every thread of pid.
func tasks(t *testing.T, pid int) []string {
	t.Helper()
	m, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(m) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	return m
}

// waitChild returns the first child of pid (host pid numbers).
func waitChild(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			c, _ := strconv.Atoi(f[0])
			waitComm(t, c, "sleep")
			return c
		}
		// The command may have been started from another thread's task.
		m, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, path := range m {
			b, _ := os.ReadFile(path)
			if f := strings.Fields(string(b)); len(f) > 0 {
				c, _ := strconv.Atoi(f[0])
				waitComm(t, c, "sleep")
				return c
			}
		}
	}
	t.Fatalf("no child of %d appeared", pid)
	return 0
}

// waitComm waits until pid runs a program named comm (past its exec).
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(b)) == comm {
			return
		}
	}
	t.Fatalf("pid %d never ran %s", pid, comm)
}
