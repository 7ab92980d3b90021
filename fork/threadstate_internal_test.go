package fork

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nsfork/nsfork/sandbox"
)

// threadStates returns, for each distinct state among the process's
// threads, its Uid, Gid, Groups, Cap*, NoNewPrivs, Seccomp and
// Seccomp_filters lines from /proc/self/task/*/status.
func threadStates() []string {
	// More threads: whatever the runtime starts from here clones one of
	// the existing ones.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); runtime.LockOSThread(); os.ReadFile("/proc/self/status") }()
	}
	wg.Wait()
	tasks, _ := os.ReadDir("/proc/self/task")
	var states []string
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue
		}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:"} {
				if strings.HasPrefix(l, k) {
					keep = append(keep, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		if s := strings.Join(keep, "; "); !slices.Contains(states, s) {
			states = append(states, s)
		}
	}
	return states
}

func init() { RegisterFunc("threadStates", threadStates) }

// Every thread of a sandboxed function has the sandbox's ids,
// capabilities, no_new_privs and seccomp filter, in a pid 1 that
// registers its signals while its setup runs (internal/earlysig: the runtime's
// signal thread may start during the setup) as well as in a pooled one.
func TestThreadsShareSandboxState(t *testing.T) {
	opts := sandbox.Default()
	if os.Geteuid() != 0 {
		opts = sandbox.Rootless()
	}
	check := func(how string, p *Process, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		st := p.Results()[0].([]string)
		if len(st) != 1 || !strings.Contains(st[0], "Seccomp: 2") || !strings.Contains(st[0], "NoNewPrivs: 1") {
			t.Errorf("%s: thread states %q, want one, with the filter and no_new_privs", how, st)
		}
	}
	for i := 0; i < 4; i++ {
		p, err := ForkIsolated("threadStates", opts)
		check("cold", p, err)
	}
	pool, err := NewPool(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i := 0; i < 3; i++ {
		p, err := pool.Start(t.Context(), "threadStates")
		check("pooled", p, err)
	}
}
