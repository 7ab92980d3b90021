package integration

// The soak: many sandboxes one after the other and many at once, every
// result checked, and afterwards nothing left behind in the caller. The
// short form runs in CI; NSFORK_SOAK=full (scripts/soak.sh) runs the full
// one. Figures of a real run are in SECURITY.md.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("soak.echo", soakEcho)
}

func soakEcho(i int, s string) (string, int, error) {
	if os.Getpid() != 1 {
		return "", 0, fmt.Errorf("pid %d, want 1 in the new pid namespace", os.Getpid())
	}
	return fmt.Sprintf("%d:%s", i, s), i * 3, nil
}

// leftovers is what a caller could be left with by its sandboxes.
type leftovers struct {
	FDs       int
	Children  []string // pid state comm of processes whose parent is us
	Mounts    []string // our mountinfo lines
	Cgroups   []string // nsfork-<our pid>-* cgroup directories
	HeapAlloc uint64   // after runtime.GC
	RSS       uint64   // VmRSS, bytes
	Threads   int
}

func snapshot(t *testing.T) *leftovers {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	l := &leftovers{FDs: countFDs(t), Children: childrenOf(os.Getpid()), Cgroups: ourCgroups(), HeapAlloc: ms.HeapAlloc}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	l.Mounts = strings.Split(strings.TrimSpace(string(b)), "\n")
	m, _ := statusFields("/proc/self/status", "VmRSS", "Threads")
	kb, _ := strconv.ParseUint(strings.TrimSuffix(m["VmRSS"], " kB"), 10, 64)
	l.RSS = kb << 10
	l.Threads, _ = strconv.Atoi(m["Threads"])
	return l
}

// childrenOf lists the processes (zombies included) whose parent is pid.
func childrenOf(pid int) []string {
	procs, _ := os.ReadDir("/proc")
	var out []string
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndex(s, ")")
		f := strings.Fields(s[i+1:]) // state ppid ...
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p.Name()+" "+f[0]+" "+s[strings.Index(s, "(")+1:i])
		}
	}
	return out
}

// ourCgroups lists the nsfork-<our pid>-* directories below our own cgroup
// in every mounted hierarchy.
func ourCgroups() []string {
	info, _ := os.ReadFile("/proc/self/mountinfo")
	own, _ := os.ReadFile("/proc/self/cgroup")
	var found []string
	seen := map[string]bool{}
	for _, l := range strings.Split(string(info), "\n") {
		_, after, ok := strings.Cut(l, " - ")
		f := strings.Fields(l)
		if !ok || len(f) < 5 || !strings.HasPrefix(after, "cgroup") {
			continue
		}
		root, point := f[3], f[4]
		for _, c := range strings.Split(strings.TrimSpace(string(own)), "\n") {
			parts := strings.SplitN(c, ":", 3)
			if len(parts) != 3 {
				continue
			}
			rel := parts[2]
			if root != "/" {
				rel = strings.TrimPrefix(rel, root)
			}
			dir := filepath.Join(point, rel)
			if seen[dir] {
				continue
			}
			seen[dir] = true
			m, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("nsfork-%d-*", os.Getpid())))
			found = append(found, m...)
		}
	}
	return found
}

// checkNoLeftovers compares a snapshot taken after sandboxes ran with one
// taken before.
func checkNoLeftovers(t *testing.T, before, after *leftovers) {
	t.Helper()
	if after.FDs != before.FDs {
		t.Errorf("descriptors: %d before, %d after: %v", before.FDs, after.FDs, fdTargets())
	}
	if len(after.Children) > len(before.Children) {
		t.Errorf("child processes (zombies included) left: %v (before: %v)", after.Children, before.Children)
	}
	if added := newLines(before.Mounts, after.Mounts); len(added) > 0 {
		t.Errorf("mounts left in the caller's namespace: %q", added)
	}
	if len(after.Cgroups) > 0 {
		t.Errorf("cgroups left: %v", after.Cgroups)
	}
}

func newLines(before, after []string) []string {
	had := map[string]int{}
	for _, l := range before {
		had[l]++
	}
	var added []string
	for _, l := range after {
		if had[l] > 0 {
			had[l]--
			continue
		}
		added = append(added, l)
	}
	return added
}

type soakForm struct {
	name            string
	seq, conc, par  int
	heapGrowthLimit uint64
}

func soakConfig() soakForm {
	if os.Getenv("NSFORK_SOAK") == "full" {
		return soakForm{name: "full", seq: 10000, conc: 2000, par: 200, heapGrowthLimit: 32 << 20}
	}
	return soakForm{name: "short", seq: 300, conc: 200, par: 20, heapGrowthLimit: 16 << 20}
}

// soakOptions: the default preset; as root every tenth run also gets a
// cgroup (a pids limit), made before the start and removed by Wait.
func soakOptions(i int) *sandbox.Options {
	o := sandbox.Default()
	if root() && i%10 == 0 {
		o.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(64))}}
	}
	return o
}

func soakRun(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	word := strconv.FormatInt(int64(i)*7919, 36)
	p, err := new(fork.Config).Start(ctx, "soak.echo", soakOptions(i), i, word)
	if err != nil {
		return fmt.Errorf("run %d: start: %w", i, err)
	}
	if err := p.Wait(); err != nil {
		return fmt.Errorf("run %d: %w", i, err)
	}
	res := p.Results()
	if len(res) != 2 || res[0] != fmt.Sprintf("%d:%s", i, word) || res[1] != i*3 {
		return fmt.Errorf("run %d: results %v", i, res)
	}
	return nil
}

// TestSoak: sequential, then concurrent sandboxes, each result checked;
// afterwards no descriptor, child, zombie, mount or cgroup is left and the
// caller's memory is bounded.
func TestSoak(t *testing.T) {
	form := soakConfig()
	for i := range 3 { // lazily made helpers of the launcher
		if err := soakRun(i); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t)

	start := time.Now()
	for i := range form.seq {
		if err := soakRun(i); err != nil {
			t.Fatalf("sequential: %v", err)
		}
	}
	seqTime := time.Since(start)

	start = time.Now()
	var failed atomic.Int64
	var firstErrs sync.Map
	sem := make(chan struct{}, form.par)
	var wg sync.WaitGroup
	for i := range form.conc {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := soakRun(form.seq + i); err != nil {
				if n := failed.Add(1); n <= 5 {
					firstErrs.Store(n, err)
				}
			}
		}()
	}
	wg.Wait()
	concTime := time.Since(start)
	after := snapshot(t)

	t.Logf("soak %s, mode %s, GOARCH %s", form.name, map[bool]string{true: "root", false: "rootless"}[root()], runtime.GOARCH)
	t.Logf("sequential: %d runs in %v, %.1f runs/s", form.seq, seqTime.Round(time.Millisecond), float64(form.seq)/seqTime.Seconds())
	t.Logf("concurrent: %d runs, %d at a time, in %v, %.1f runs/s, %d failed", form.conc, form.par, concTime.Round(time.Millisecond), float64(form.conc)/concTime.Seconds(), failed.Load())
	t.Logf("fds %d -> %d; children %d -> %d; mountinfo lines %d -> %d; nsfork cgroups %d -> %d; threads %d -> %d",
		before.FDs, after.FDs, len(before.Children), len(after.Children), len(before.Mounts), len(after.Mounts),
		len(before.Cgroups), len(after.Cgroups), before.Threads, after.Threads)
	t.Logf("heap after GC %.1f MiB -> %.1f MiB; VmRSS %.1f MiB -> %.1f MiB",
		float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20), float64(before.RSS)/(1<<20), float64(after.RSS)/(1<<20))

	firstErrs.Range(func(_, v any) bool {
		t.Errorf("concurrent: %v", v)
		return true
	})
	if failed.Load() > 0 {
		t.Errorf("%d of %d concurrent runs failed", failed.Load(), form.conc)
	}
	checkNoLeftovers(t, before, after)
	if after.HeapAlloc > before.HeapAlloc+form.heapGrowthLimit {
		t.Errorf("heap grew from %d to %d bytes (limit +%d)", before.HeapAlloc, after.HeapAlloc, form.heapGrowthLimit)
	}
}
