package integration

// Two-task --container steps (TestOCISlurm's TwoTasks, TwoTasksScancel and
// TimeLimit). Slurm 22.05 runs at most one --container task per node, so
// these steps run in scripts/slurm-up.sh's partition "two": two nodes, each
// its own slurmd on this host (`slurmd -N NODE`). `srun -p two -N2 -n2
// --container=BUNDLE` runs one task on each, each in its own container
// NODE.USER.JOB.STEP.TASK made through oci.conf's create and start; both
// share the one state directory (--root STATE/USER), as two slurmd of one
// host do.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/testreq"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ociSlurmPartition is scripts/slurm-up.sh's partition of two nodes.
const ociSlurmPartition = "two"

// ociSlurmNodes: the nodes of ociSlurmPartition, which must be two.
func ociSlurmNodes(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("sinfo", "-h", "-N", "-p", ociSlurmPartition, "-o", "%N").Output()
	nodes := strings.Fields(string(out))
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	require(t, err == nil && len(nodes) == 2, fmt.Sprintf("no Slurm partition %q of two nodes (sinfo: %v, %q): scripts/slurm-up.sh starts two slurmd on this host", ociSlurmPartition, err, out))
	return nodes
}

// ociSlurmID is oci.conf's container id NODE.USER.JOB.STEP.TASK of root's
// first step: each node counts its tasks from 0.
var ociSlurmID = regexp.MustCompile(`^([^.]+)\.root\.(\d+)\.0\.0$`)

// twoTasks are srun's arguments for a --container step of one task on each
// node of the partition, running argv.
func (e *ociSlurmEnv) twoTasks(argv ...string) []string {
	return append([]string{"-p", ociSlurmPartition, "-N2", "-n2", "--container=" + e.bundle}, argv...)
}

// taskLine is the shell line with which a task records, in
// /out/PREFIX-NODE, its node, job and Slurm cgroup. Slurm 22.05 gives the
// container the step's environment (srun's), without the per-task
// variables (SLURM_PROCID, SLURMD_NODENAME): a task finds its node in its
// freezer cgroup, /slurm_NODE/uid_U/job_J/step_S, the root of the
// container's /sys/fs/cgroup/freezer mount (the bundle has no cgroup
// namespace).
func taskLine(prefix string) string {
	return nodeShell + `echo "$n $SLURM_JOB_ID $c" > /out/` + prefix + `-$n`
}

// nodeShell sets $c to the task's freezer cgroup and $n to its node.
const nodeShell = `while read -r x x x root mnt x; do [ "$mnt" = /sys/fs/cgroup/freezer ] && c=$root; done < /proc/self/mountinfo; ` +
	`n=${c#/slurm_}; n=${n%%/*}; `

// taskFiles checks what the two tasks recorded with taskLine: one task on
// each node, both in the same job, each in its node's step cgroup. It
// returns the job.
func (e *ociSlurmEnv) taskFiles(t *testing.T, prefix string) string {
	t.Helper()
	var jobs []string
	for _, n := range e.nodes {
		b, err := os.ReadFile(filepath.Join(e.out, prefix+"-"+n))
		f := strings.Fields(string(b))
		if err != nil || len(f) != 3 || f[0] != n || f[2] != fmt.Sprintf("/slurm_%s/uid_0/job_%s/step_0", n, f[1]) {
			ents, _ := os.ReadDir(e.out)
			t.Errorf("no task on node %s wrote \"%[1]s JOB /slurm_%[1]s/uid_0/job_JOB/step_0\": %q (%v); written: %v", n, b, err, ents)
			continue
		}
		jobs = append(jobs, f[1])
	}
	if len(jobs) == 2 && jobs[0] != jobs[1] {
		t.Errorf("the tasks ran in jobs %v: want one job", jobs)
	}
	if len(jobs) == 0 {
		return ""
	}
	return jobs[0]
}

// checkIDs checks the containers of a running two-task step: two, one per
// node, both of one job, and `state` says each is running. It returns the
// job.
func (e *ociSlurmEnv) checkIDs(t *testing.T, c map[string]string) string {
	t.Helper()
	byJob := map[string][]string{}
	for id := range c {
		m := ociSlurmID.FindStringSubmatch(id)
		if m == nil || !slices.Contains(e.nodes, m[1]) {
			t.Errorf("container id %q is not oci.conf's NODE.USER.JOB.STEP.TASK with NODE one of %v", id, e.nodes)
			continue
		}
		st := e.ociEnv.state(t, id)
		if st.Status != specs.StateRunning || st.Pid <= 0 {
			t.Errorf("sandboxrun state %s: %s, pid %d; want running", id, st.Status, st.Pid)
			continue
		}
		// Seen from the host: the container's init is in the step of
		// the node its id names.
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
		if fz := parseCgroups(string(b))["freezer"]; fz != fmt.Sprintf("/slurm_%s/uid_0/job_%s/step_0", m[1], m[2]) {
			t.Errorf("container %s: its init (pid %d) is in freezer cgroup %q, not in its node's step", id, st.Pid, fz)
		}
		byJob[m[2]] = append(byJob[m[2]], m[1])
	}
	for job, nodes := range byJob {
		if slices.Sort(nodes); slices.Equal(nodes, e.nodes) {
			return job
		}
	}
	t.Errorf("no job with a container on each of %v: %v", e.nodes, c)
	return ""
}

// ociSlurmTwoTasks: srun -p two -N2 -n2 --container runs both tasks, each
// in its own container made through create and start, and exits 0; nothing
// is left.
func ociSlurmTwoTasks(t *testing.T, e *ociSlurmEnv) {
	r := hpcRun(t, &hpcFixture{dir: e.out}, 120*time.Second, nil, append([]string{"srun"}, e.twoTasks("sh", "-c", taskLine("two"))...)...)
	if r.code != 0 {
		t.Errorf("srun %s: exit %d, stderr %q", strings.Join(e.twoTasks(), " "), r.code, r.err)
	}
	job := e.taskFiles(t, "two")
	// Each node's slurmstepd created (from its own copy of the bundle),
	// started and deleted its task's container through the runtime.
	log, _ := os.ReadFile(filepath.Join(e.logs, "root.log"))
	for _, n := range e.nodes {
		id := regexp.QuoteMeta(fmt.Sprintf("%s.root.%s.0.0", n, job))
		for _, cmd := range []string{`create --bundle \S+ ` + id, `start ` + id, `delete --force ` + id} {
			if !regexp.MustCompile(`msg="` + cmd + `"`).Match(log) {
				t.Errorf("Slurm did not run %q through the runtime; log:\n%s", cmd, log)
			}
		}
	}
	e.checkClean(t, nil, false, job)
}

// ociSlurmScancel: a two-task step runs, and beside it a one-task step of
// another job in the default partition (two jobs' containers on one node
// at once); `state` shows each container running; scancel ends all three
// through Slurm's kill and delete; nothing is left.
func ociSlurmScancel(t *testing.T, e *ociSlurmEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	name := fmt.Sprintf("nsfork-oci-%d", os.Getpid())
	two, twoOut := srunStart(t, ctx, e.twoTasks("--job-name", name, "sh", "-c", taskLine("up")+"; exec sleep 1000")...)
	defer two.Process.Kill()
	one, oneOut := srunStart(t, ctx, "-n1", "--job-name", name, "--container="+e.bundle,
		"sh", "-c", "echo $SLURM_JOB_ID > /out/up-one; exec sleep 1000")
	defer one.Process.Kill()
	running := func() int {
		n := 0
		for _, st := range e.containers(t) {
			if st == "running" {
				n++
			}
		}
		return n
	}
	written := func() bool {
		for _, f := range []string{"up-" + e.nodes[0], "up-" + e.nodes[1], "up-one"} {
			if b, _ := os.ReadFile(filepath.Join(e.out, f)); !strings.HasSuffix(string(b), "\n") {
				return false
			}
		}
		return true
	}
	if !waitFor(90*time.Second, func() bool { return running() == 3 && written() }) {
		for _, cmd := range []*exec.Cmd{two, one} {
			cmd.Process.Kill()
			cmd.Wait()
		}
		t.Fatalf("three containers not running, or their tasks did not write: %v; srun: %q %q", e.containers(t), twoOut, oneOut)
	}
	job := e.taskFiles(t, "up")
	c := e.containers(t)
	if j := e.checkIDs(t, c); j != job {
		t.Errorf("the two-task job is %q by its containers, %q by its tasks", j, job)
	}
	b, _ := os.ReadFile(filepath.Join(e.out, "up-one"))
	jobs := []string{job, strings.TrimSpace(string(b))}
	cgroups := e.records(t)
	if err := exec.Command("scancel", "--name", name).Run(); err != nil {
		t.Fatalf("scancel --name %s: %v", name, err)
	}
	for i, cmd := range []*exec.Cmd{two, one} {
		err := cmd.Wait()
		if ctx.Err() != nil {
			t.Fatalf("srun did not end after scancel")
		}
		if out := []string{twoOut.String(), oneOut.String()}[i]; !strings.Contains(out, "CANCELLED") {
			t.Errorf("srun %d after scancel: %v, output %q", i, err, out)
		}
	}
	e.checkClean(t, cgroups, true, jobs...)
}

// ociSlurmTimeLimit: srun -p two -N2 -n2 --time=1 ends both containers at
// the time limit: each task ticks until the limit and not after, Slurm
// asked the runtime for their state and deleted them, and nothing is left.
// 75-90 s: NSFORK_SLURM_TIMELIMIT=1 (CI runs it once, beside the suite).
//
// Whether a task sees the SIGTERM is a race in Slurm 22.05, not the
// runtime's: the step's task is slurmstepd's own process polling the
// runtime, which the SIGTERM ends at once, and then slurmstepd kills what
// is left of the step (the container included) without waiting KillWait.
func ociSlurmTimeLimit(t *testing.T, e *ociSlurmEnv) {
	testreq.OptIn(t, "NSFORK_SLURM_TIMELIMIT", "waits 75-90 s for Slurm's time limit (CI runs it once, beside the suite)")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	count := func(i int) int {
		b, _ := os.ReadFile(filepath.Join(e.out, "ticks-"+e.nodes[i]))
		return strings.Count(string(b), "tick")
	}
	start := time.Now()
	cmd, out := srunStart(t, ctx, e.twoTasks("--time=1", "sh", "-c", nodeShell+"while :; do echo tick >> /out/ticks-$n; sleep 1; done")...)
	defer cmd.Process.Kill()
	if !waitFor(60*time.Second, func() bool { return count(0) > 0 && count(1) > 0 }) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the tasks did not start: %q", out)
	}
	c := e.containers(t)
	cgroups := e.records(t)
	if len(c) != 2 {
		t.Fatalf("containers while the tasks run: %v", c)
	}
	job := e.checkIDs(t, c)
	cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("srun --time=1 did not end")
	}
	el := time.Since(start)
	n := []int{count(0), count(1)}
	t.Logf("srun -N2 -n2 --time=1 --container ended after %.0f s, %v ticks: %q", el.Seconds(), n, out)
	if !strings.Contains(out.String(), "DUE TO TIME LIMIT") || el < 60*time.Second {
		t.Errorf("srun ended after %s, output %q: want the time limit", el, out)
	}
	for i := range 2 {
		if n[i] < 40 {
			t.Errorf("the task on %s ticked %d times: it ended before the 1-minute limit", e.nodes[i], n[i])
		}
	}
	e.checkClean(t, cgroups, true, job)
	for i := range 2 {
		if m := count(i); m > n[i]+1 {
			t.Errorf("the task on %s ticked on after the step ended (%d, then %d)", e.nodes[i], n[i], m)
		}
	}
	log, _ := os.ReadFile(filepath.Join(e.logs, "root.log"))
	for id := range c {
		if !strings.Contains(string(log), "delete --force "+id) {
			t.Errorf("Slurm did not delete %s through the runtime; log:\n%s", id, log)
		}
	}
}
