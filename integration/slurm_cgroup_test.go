package integration

// Slurm with proctrack/cgroup (scripts/slurm-up.sh: cgroup v1, task/cgroup
// with ConstrainCores and ConstrainRAMSpace). slurmstepd puts every task of
// a step into /slurm[_NODE]/uid_U/job_J/step_S in the freezer hierarchy,
// which proctrack/cgroup uses to find the step's processes (signals,
// scancel, the kill at step end), and in the cpuset and memory hierarchies
// (memory: one level further, task_T). These tests check where a sandbox
// started by a task goes, that nothing of it outlives the step, and that a
// sandboxed program that daemonizes (double fork, setsid, SIGTERM and
// SIGHUP ignored) to outlive its job is still killed. They run as root and
// as uid 65534: slurmstepd chowns the step's directories to the job's
// user, so a rootless sandboxrun can create its cgroup below them.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slurmCgroupReady: a running Slurm that tracks processes with
// proctrack/cgroup, on cgroup v1 (a freezer hierarchy).
func slurmCgroupReady(t *testing.T) {
	t.Helper()
	ok, why := slurmUp()
	require(t, ok, why)
	out, err := exec.Command("scontrol", "show", "config").Output()
	require(t, err == nil, fmt.Sprintf("scontrol show config: %v", err))
	m := regexp.MustCompile(`(?m)^ProctrackType\s*=\s*(\S+)`).FindSubmatch(out)
	require(t, m != nil && string(m[1]) == "proctrack/cgroup",
		fmt.Sprintf("Slurm's ProctrackType is %q, not proctrack/cgroup (scripts/slurm-up.sh configures it)", m))
	_, ok = cgroupV1Mounts()["freezer"]
	require(t, ok, "no cgroup v1 freezer hierarchy: these tests are about proctrack/cgroup on cgroup v1")
}

// cgroupV1Mounts maps each v1 controller (and name=NAME) to the mount
// point of its hierarchy, from /proc/self/mountinfo.
func cgroupV1Mounts() map[string]string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(qf[2], ",") {
			if o != "rw" && o != "ro" && !strings.Contains(o, "=") || strings.HasPrefix(o, "name=") {
				m[o] = pf[4]
			}
		}
	}
	return m
}

// cgroupSet is a /proc/PID/cgroup: v1 controller (or name=NAME) to path.
type cgroupSet map[string]string

func parseCgroups(s string) cgroupSet {
	c := cgroupSet{}
	for _, l := range strings.Split(s, "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue
		}
		for _, ctrl := range strings.Split(f[1], ",") {
			c[ctrl] = f[2]
		}
	}
	return c
}

// dir is the directory of the cgroup of ctrl on the host ("" if the
// hierarchy is not mounted).
func (c cgroupSet) dir(ctrl string) string {
	mnt, ok := cgroupV1Mounts()[ctrl]
	if !ok {
		return ""
	}
	return filepath.Join(mnt, c[ctrl])
}

// nsforkDirs lists the sandbox's own cgroup directories: those of c whose
// path has an nsfork-* element.
func (c cgroupSet) nsforkDirs() []string {
	var ds []string
	for ctrl, p := range c {
		if strings.Contains(p, "/nsfork-") {
			if d := c.dir(ctrl); d != "" {
				ds = append(ds, d)
			}
		}
	}
	return ds
}

var stepCgroup = regexp.MustCompile(`^/slurm(?:_[^/]+)?/uid_(\d+)/job_(\d+)/step_(\d+)$`)

// below says whether cgroup path p is q or inside it.
func below(p, q string) bool {
	return p == q || strings.HasPrefix(p, strings.TrimSuffix(q, "/")+"/")
}

// existing returns the directories of ds that still exist.
func existing(ds []string) []string {
	var left []string
	for _, d := range ds {
		if _, err := os.Stat(d); err == nil {
			left = append(left, d)
		}
	}
	return left
}

// slurmCgroupFixture is a world-readable directory with sandboxrun in it
// (NSFORK_SANDBOXRUN, or a copy of the shared build: sandboxrunIn).
func slurmCgroupFixture(t *testing.T) *hpcFixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsfork-slurmcg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &hpcFixture{dir: dir}
	if f.bin, err = sandboxrunIn(dir); err != nil {
		t.Fatalf("building sandboxrun: %v", err)
	}
	return f
}

// TestSlurmCgroup: sandboxes in the job steps of a Slurm that uses
// proctrack/cgroup.
func TestSlurmCgroup(t *testing.T) {
	slurmCgroupReady(t)
	f := slurmCgroupFixture(t)
	t.Run("Nesting", func(t *testing.T) { slurmCgroupNesting(t, f) })
	t.Run("Daemon", func(t *testing.T) { slurmCgroupDaemon(t, f) })
	t.Run("ConcurrentTasks", func(t *testing.T) { slurmCgroupConcurrent(t, f) })
}

// slurmCgroupConcurrent: the tasks of one step share the step's cgroups,
// and each task's sandboxrun makes its nsfork-* cgroups beside the
// others'. Every one of them must start (a start must not take a
// neighbour's new, still empty cgroup for a stale one and remove it).
func slurmCgroupConcurrent(t *testing.T, f *hpcFixture) {
	for i := range 5 {
		r := hpcRun(t, f, 60*time.Second, nil, "srun", "-n", "4", "--overcommit", "--time=5", f.bin, "--preset", "mpi", hostRootFlag(), "--memory", "64m", "--", "/bin/sh", "-c", "grep -c nsfork- /proc/self/cgroup")
		if r.code != 0 || strings.Count(r.out, "\n") != 4 {
			t.Errorf("run %d: srun -n 4 sandboxrun --preset mpi --memory 64m: exit %d; stdout %q stderr %q", i, r.code, r.out, r.err)
		}
	}
}

// slurmCgroupNesting: a sandbox with cgroup limits, started by a task of a
// step, stays in the step's freezer cgroup (the one proctrack/cgroup
// reads: it lists that cgroup's own cgroup.procs, not its descendants'),
// gets its nsfork-* cgroup below the step's in the memory and cpuset
// hierarchies, and leaves nothing behind when the step ends.
func slurmCgroupNesting(t *testing.T, f *hpcFixture) {
	script := `echo "ids $SLURM_JOB_ID $SLURM_STEP_ID"; echo "== step"; cat /proc/self/cgroup; echo "== sandbox"
exec "$0" --memory 64m -- /bin/sh -c 'cat /proc/self/cgroup; grep -E "^(Cpus_allowed_list|NSpid):" /proc/self/status'`
	r := hpcRun(t, f, 60*time.Second, nil, "srun", "-n", "1", "--time=5", "/bin/sh", "-c", script, f.bin)
	if r.code != 0 {
		t.Fatalf("srun: exit %d; stdout %q stderr %q", r.code, r.out, r.err)
	}
	head, rest, ok1 := strings.Cut(r.out, "== step\n")
	stepOut, sbOut, ok2 := strings.Cut(rest, "== sandbox\n")
	if !ok1 || !ok2 {
		t.Fatalf("unexpected output %q", r.out)
	}
	var job, step string
	fmt.Sscanf(strings.TrimSpace(head), "ids %s %s", &job, &step)
	st, sb := parseCgroups(stepOut), parseCgroups(sbOut)
	t.Logf("job %s step %s\ntask's cgroups:\n%ssandbox's cgroups:\n%s", job, step, stepOut, sbOut)

	// The task is in the step's freezer cgroup.
	m := stepCgroup.FindStringSubmatch(st["freezer"])
	if m == nil || m[1] != strconv.Itoa(os.Geteuid()) || m[2] != job || m[3] != step {
		t.Fatalf("the task's freezer cgroup %q is not /slurm[_NODE]/uid_%d/job_%s/step_%s: is proctrack/cgroup in use?", st["freezer"], os.Geteuid(), job, step)
	}
	stepPath := st["freezer"]

	// (a) freezer: the sandbox must be in the step's own freezer cgroup.
	// Below it would be nested, but invisible to proctrack/cgroup.
	switch {
	case sb["freezer"] == stepPath:
	case below(sb["freezer"], stepPath):
		t.Errorf("freezer: the sandbox is in %q, a cgroup of its own below the step's %q. proctrack/cgroup (v1) finds a step's processes by reading the step cgroup's own cgroup.procs, not its children's, so Slurm's signals and its kill at the step's end do not reach the sandbox (see TestSlurmCgroup/Daemon/ScancelSharedPidMemory)", sb["freezer"], stepPath)
	default:
		t.Errorf("freezer: the sandbox is in %q, outside the step's %q", sb["freezer"], stepPath)
	}

	// (b) memory: a new nsfork-* cgroup directly below the task's cgroup,
	// which is below the step's. cpuset: below the step's. (No --pids:
	// Slurm does not use the pids hierarchy, so a rootless sandboxrun
	// cannot create a cgroup there; asking would be refused, rightly.)
	if filepath.Dir(sb["memory"]) != st["memory"] || !strings.HasPrefix(filepath.Base(sb["memory"]), "nsfork-") {
		t.Errorf("memory: the sandbox's cgroup %q is not a new nsfork-* child of the task's %q", sb["memory"], st["memory"])
	}
	if !below(st["memory"], stepPath) {
		t.Errorf("memory: the task's cgroup %q is not below the step's %q (task/cgroup with ConstrainRAMSpace?)", st["memory"], stepPath)
	}
	if _, ok := cgroupV1Mounts()["cpuset"]; ok && !below(sb["cpuset"], stepPath) {
		t.Errorf("cpuset: the sandbox's cgroup %q is not below the step's %q", sb["cpuset"], stepPath)
	}

	// (c) when the step has ended, the sandbox's cgroups are gone, and so
	// are the step's (slurmstepd removes them; a leftover child would make
	// its rmdir fail).
	dirs := sb.nsforkDirs()
	if len(dirs) == 0 {
		t.Fatalf("the sandbox has no nsfork-* cgroup: %q", sbOut)
	}
	if !waitFor(5*time.Second, func() bool { return len(existing(dirs)) == 0 }) {
		t.Errorf("the sandbox's cgroups are left after the step: %v", existing(dirs))
	}
	stepDirs := []string{st.dir("freezer"), filepath.Join(cgroupV1Mounts()["memory"], stepPath)}
	if !waitFor(10*time.Second, func() bool { return len(existing(stepDirs)) == 0 }) {
		t.Errorf("the step's cgroups are left after the step: %v", existing(stepDirs))
	}
}

var daemonSeq atomic.Int64

// daemonCase runs, under srun, sandboxrun with args and a program that
// starts a daemon: a double fork and setsid, SIGTERM, SIGHUP and SIGINT
// ignored, then sleep TOKEN. When cancel is false the program exits 0 as
// soon as the daemon runs and the step ends by itself; else the program
// ignores SIGTERM too and sleeps, and the test scancels the job, so that
// slurmstepd SIGKILLs whatever is left after KillWait. Afterwards no
// process of the sandbox may be left. It returns the sandbox's cgroups.
func daemonCase(t *testing.T, f *hpcFixture, cancel bool, args ...string) cgroupSet {
	dir := tempDir(t)
	os.Chmod(dir, 0o777)
	n := daemonSeq.Add(1)
	token := fmt.Sprintf("%d.%d", 90000+n, os.Getpid()) // sleep's argument, unique
	mainToken := fmt.Sprintf("%d.%d", 95000+n, os.Getpid())
	ready, cg := filepath.Join(dir, "ready"), filepath.Join(dir, "cgroup")
	daemon := fmt.Sprintf(`trap "" TERM HUP INT; echo $$ > %s; exec sleep %s`, ready, token)
	prog := fmt.Sprintf(`trap "" TERM HUP INT; cat /proc/self/cgroup > %s
( setsid /bin/sh -c '%s' </dev/null >/dev/null 2>&1 & )
while [ ! -s %s ]; do sleep 0.05; done
`, cg, daemon, ready)
	if cancel {
		prog += "exec sleep " + mainToken + "\n"
	} else {
		prog += "exit 0\n"
	}
	name := fmt.Sprintf("nsfork-daemon-%d-%d", os.Getpid(), n)
	argv := append([]string{"srun", "-n", "1", "--time=5", "--job-name", name, f.bin, "--rw", dir}, args...)
	argv = append(argv, "--", "/bin/sh", "-c", prog)
	t.Cleanup(func() {
		// Whatever survived must not outlive the test.
		for _, p := range procsWith(token, mainToken) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})

	ctx, stop := context.WithTimeout(context.Background(), 120*time.Second)
	defer stop()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &e, &e
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if cancel {
		if !waitFor(60*time.Second, func() bool { return len(procsWith(mainToken)) > 0 }) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the job did not start; srun: %q", e.String())
		}
		out, err := exec.Command("squeue", "-h", "-o", "%i", "-n", name).Output()
		job := strings.TrimSpace(string(out))
		if err != nil || job == "" {
			t.Fatalf("squeue -n %s: %v %q", name, err, out)
		}
		if err := exec.Command("scancel", job).Run(); err != nil {
			t.Fatalf("scancel %s: %v", job, err)
		}
	}
	err := cmd.Wait()
	t.Logf("srun %v ended after %.1f s: %v", args, time.Since(start).Seconds(), err)
	if ctx.Err() != nil {
		t.Fatalf("srun did not end; output %q", e.String())
	}
	if b, _ := os.ReadFile(ready); len(bytes.TrimSpace(b)) == 0 {
		t.Fatalf("the daemon never started; srun: %q", e.String())
	}
	if !cancel && err != nil {
		t.Errorf("srun: %v; output %q", err, e.String())
	}
	b, _ := os.ReadFile(cg)
	c := parseCgroups(string(b))
	// srun returns when the task has exited; slurmstepd's kill of what is
	// left in the step's cgroup follows.
	if !waitFor(15*time.Second, func() bool { return len(procsWith(token, mainToken)) == 0 }) {
		for _, p := range procsWith(token, mainToken) {
			pc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p))
			t.Errorf("pid %d (sleep %s) of the sandbox outlived its Slurm step (sandboxrun %s; job ended: %v); its cgroups:\n%s", p, token, strings.Join(args, " "), squeueEmpty(name), pc)
			syscall.Kill(p, syscall.SIGKILL)
		}
		waitFor(5*time.Second, func() bool { return len(procsWith(token, mainToken)) == 0 })
	}
	return c
}

func squeueEmpty(name string) bool {
	out, err := exec.Command("squeue", "-h", "-o", "%i", "-n", name).Output()
	return err == nil && strings.TrimSpace(string(out)) == ""
}

// procsWith lists the pids of the processes whose command line is
// "sleep TOKEN" for one of the tokens.
func procsWith(tokens ...string) []int {
	return pidsWhere(func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			return false
		}
		a := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		return len(a) == 2 && filepath.Base(a[0]) == "sleep" && slices.Contains(tokens, a[1])
	})
}

// pidsWhere lists the pids whose /proc/<pid> directory match accepts.
func pidsWhere(match func(dir string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil && match(filepath.Join("/proc", e.Name())) {
			pids = append(pids, p)
		}
	}
	return pids
}

// slurmCgroupDaemon: a sandboxed program that daemonizes to outlive its
// job fails. Each case is an attack; each must end with nothing left.
func slurmCgroupDaemon(t *testing.T, f *hpcFixture) {
	// The step ends by itself once the program has exited.
	t.Run("SharedPid", func(t *testing.T) {
		// No pid namespace, no cgroup of the sandbox's own: when
		// sandboxrun has exited, the daemon (reparented to init, so not a
		// descendant of slurmstepd any more) is only in the step's
		// cgroup, and proctrack/cgroup kills it there.
		t.Parallel()
		daemonCase(t, f, false, "--share", "pid")
	})
	t.Run("PresetMPI", func(t *testing.T) {
		t.Parallel()
		daemonCase(t, f, false, "--preset", "mpi", hostRootFlag())
	})
	t.Run("SharedPidMemory", func(t *testing.T) {
		// sandboxrun kills what is left in its cgroup and removes it.
		t.Parallel()
		c := daemonCase(t, f, false, "--share", "pid", "--memory", "64m")
		if !waitFor(5*time.Second, func() bool { return len(existing(c.nsforkDirs())) == 0 }) {
			t.Errorf("the sandbox's cgroups are left: %v", existing(c.nsforkDirs()))
		}
	})
	t.Run("PidNamespaceMemory", func(t *testing.T) {
		t.Parallel()
		c := daemonCase(t, f, false, "--memory", "64m")
		if !waitFor(5*time.Second, func() bool { return len(existing(c.nsforkDirs())) == 0 }) {
			t.Errorf("the sandbox's cgroups are left: %v", existing(c.nsforkDirs()))
		}
	})
	// scancel, and a program that ignores SIGTERM: slurmstepd SIGKILLs
	// the step's processes after KillWait, sandboxrun among them, which
	// then cannot clean up.
	t.Run("ScancelSharedPid", func(t *testing.T) {
		t.Parallel()
		daemonCase(t, f, true, "--share", "pid")
	})
	t.Run("ScancelSharedPidMemory", func(t *testing.T) {
		// The daemon is in the sandbox's own cgroups; only Slurm can kill
		// it, and only if it is in the step's freezer cgroup itself.
		t.Parallel()
		c := daemonCase(t, f, true, "--share", "pid", "--memory", "64m")
		leftDirs(t, c)
	})
	t.Run("ScancelPidNamespaceMemory", func(t *testing.T) {
		// The sandbox's init dies with sandboxrun (parent-death signal),
		// and the kernel then kills its whole pid namespace.
		t.Parallel()
		c := daemonCase(t, f, true, "--memory", "64m")
		leftDirs(t, c)
	})
}

// leftDirs: a sandboxrun that was SIGKILLed could not remove its cgroups,
// and slurmstepd does not remove cgroups it did not make, so the step's
// own cgroups cannot be removed either (their rmdir fails on the child).
// They hold no process (daemonCase checked), so this is a leak of empty
// directories, not an escape: logged, not failed, and removed here (as
// scripts/slurm-down.sh does) so that they do not pile up.
func leftDirs(t *testing.T, c cgroupSet) {
	t.Helper()
	dirs := c.nsforkDirs()
	waitFor(3*time.Second, func() bool { return len(existing(dirs)) == 0 })
	left := existing(dirs)
	if len(left) == 0 {
		return
	}
	t.Logf("known limit: after SIGKILL, the sandbox's empty cgroups are left: %v", left)
	for _, d := range left {
		if err := syscall.Rmdir(d); err != nil {
			t.Errorf("rmdir %s: %v (a process is still in it?)", d, err)
		}
	}
}
