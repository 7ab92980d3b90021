package integration

// Slurm 22.05 drives sandboxrun as its OCI runtime (oci.conf's
// RunTimeQuery/Create/Start/Kill/Delete, docs/oci-runtime.md): srun
// --container=BUNDLE runs a task in a container, scancel and the time limit
// end it through Slurm's own kill and delete, and nothing is left in the
// state directory or the cgroup tree. Root only: oci.conf sits beside
// slurm.conf in /etc/slurm. The test installs it and restores what was
// there (slurmstepd reads oci.conf at every step, no reconfigure needed).
//
// Slurm 22.05 runs the create command with its stdout and stderr on a pipe
// it reads until end-of-file, and the container inherits create's stdio
// (as with runc), so the oci.conf lines redirect create's stdio; the task
// writes what it did into a directory the bundle binds. Slurm 22.05 also
// refuses more than one task per node in a --container step
// ("_modify_config: unexpected number of tasks 2 > 1", for every runtime):
// two tasks are two steps here, running at once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/internal/testreq"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const ociConfPath = "/etc/slurm/oci.conf"

// ociSlurmEnv is an installed oci.conf and what it points at.
type ociSlurmEnv struct {
	state  string // --root of root's containers; STATE/nobody for uid 65534's
	logs   string // the runtime's logs, USER.log
	out    string // bound on /out in the bundles
	bundle string // for root's tasks
	userB  string // for uid 65534's tasks (rootless: its uid mapped)
	ociEnv *ociEnv
}

// ociConfLines are the oci.conf lines docs/oci-runtime.md shows, for a
// sandboxrun at bin with its state under root and its logs in logs (per
// user: %u).
func ociConfLines(bin, root, logs string) string {
	s := bin + " --root " + root + "/%u --log " + logs + "/%u.log --debug"
	return fmt.Sprintf(`RunTimeQuery="%[1]s state %%n.%%u.%%j.%%s.%%t"
RunTimeCreate="%[1]s create --bundle %%b %%n.%%u.%%j.%%s.%%t </dev/null >/dev/null 2>&1"
RunTimeStart="%[1]s start %%n.%%u.%%j.%%s.%%t"
RunTimeKill="%[1]s kill --all %%n.%%u.%%j.%%s.%%t"
RunTimeDelete="%[1]s delete --force %%n.%%u.%%j.%%s.%%t"
`, s)
}

// ociConfRunLines are the RunTimeRun variant: srun's stdio reaches the
// container (Slurm execs the run command in the task), Query, Kill and
// Delete clean up after a killed step.
func ociConfRunLines(bin, root, logs string) string {
	s := bin + " --root " + root + "/%u --log " + logs + "/%u.log --debug"
	return fmt.Sprintf(`RunTimeQuery="%[1]s state %%n.%%u.%%j.%%s.%%t"
RunTimeRun="%[1]s run --bundle %%b %%n.%%u.%%j.%%s.%%t"
RunTimeKill="%[1]s kill --all %%n.%%u.%%j.%%s.%%t"
RunTimeDelete="%[1]s delete --force %%n.%%u.%%j.%%s.%%t"
`, s)
}

func ociSlurmSetup(t *testing.T) *ociSlurmEnv {
	t.Helper()
	onlyRoot(t)
	slurmCgroupReady(t)
	e := &ociSlurmEnv{state: filepath.Join(tempDir(t), "state"), out: sharedDir(t), logs: sharedDir(t)}
	if err := os.Mkdir(e.state, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(e.state, 0o1777)
	bin := sandboxrunBin(t)
	e.ociEnv = &ociEnv{bin: bin, root: filepath.Join(e.state, "root")}
	bind := func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: e.out, Options: []string{"rbind", "rw"}})
	}
	e.bundle = ociSlurmBundle(t, bind)
	e.userB = ociSlurmBundle(t, func(s *specs.Spec) {
		bind(s)
		// runc spec --rootless maps the uid that ran it (root here):
		// the tasks run as 65534.
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 65534, Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 65534, Size: 1}}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		// No cgroup limits (runc spec --rootless has none either):
		// uid 65534 has no cgroup v1 hierarchy of its own here.
		s.Linux.Resources = nil
	})

	// One test process at a time installs oci.conf (CI runs the time
	// limit beside the suite): a lock in the tests' own directory.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "nsfork-oci-slurm.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	old, err := os.ReadFile(ociConfPath)
	had := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	e.install(t, ociConfLines(bin, e.state, e.logs))
	t.Cleanup(func() {
		if t.Failed() {
			for _, u := range []string{"root", "nobody"} {
				b, _ := os.ReadFile(filepath.Join(e.logs, u+".log"))
				t.Logf("the runtime's log for %s:\n%s", u, b)
			}
		}
		if had {
			os.WriteFile(ociConfPath, old, 0o644)
		} else {
			os.Remove(ociConfPath)
		}
	})
	return e
}

// install writes oci.conf (under the lock ociSlurmSetup holds).
func (e *ociSlurmEnv) install(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile(ociConfPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ociSlurmBundle is a busybox bundle (runc spec) changed by edit, with a
// mount point for /out.
func ociSlurmBundle(t *testing.T, edit func(*specs.Spec)) string {
	t.Helper()
	dir := ociBundle(t, edit, "true")
	if err := os.Mkdir(filepath.Join(dir, "rootfs", "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// containers lists the containers under the state directory, per user.
func (e *ociSlurmEnv) containers(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	users, _ := os.ReadDir(e.state)
	for _, u := range users {
		env := &ociEnv{bin: e.ociEnv.bin, root: filepath.Join(e.state, u.Name())}
		var list []struct{ ID, Status string }
		json.Unmarshal([]byte(env.must(t, "list", "--format", "json")), &list)
		for _, c := range list {
			out[c.ID] = c.Status
		}
	}
	return out
}

// records reads the state.json of every container (cgroup directories and
// processes), while they run.
func (e *ociSlurmEnv) records(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	users, _ := os.ReadDir(e.state)
	for _, u := range users {
		ids, _ := os.ReadDir(filepath.Join(e.state, u.Name()))
		for _, id := range ids {
			env := &ociEnv{bin: e.ociEnv.bin, root: filepath.Join(e.state, u.Name())}
			out[id.Name()] = env.record(t, id.Name()).Cgroup
		}
	}
	return out
}

// checkClean: nothing left in the state directories, nor of the cgroups.
func (e *ociSlurmEnv) checkClean(t *testing.T, cgroups map[string]map[string]string) {
	t.Helper()
	if !waitFor(30*time.Second, func() bool { return len(e.containers(t)) == 0 }) {
		t.Errorf("containers left after the steps ended: %v", e.containers(t))
	}
	users, _ := os.ReadDir(e.state)
	for _, u := range users {
		if ents, _ := os.ReadDir(filepath.Join(e.state, u.Name())); len(ents) != 0 {
			t.Errorf("state directory %s/%s not empty: %v", e.state, u.Name(), ents)
		}
	}
	for id, cg := range cgroups {
		for ctrl, d := range cg {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("container %s: cgroup %s %s left (%v)", id, ctrl, d, err)
			}
		}
	}
}

// srunStart starts srun --container with args in the background.
func srunStart(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "srun", args...)
	var e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &e, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &e
}

func TestOCISlurm(t *testing.T) {
	e := ociSlurmSetup(t)
	t.Run("Task", func(t *testing.T) { ociSlurmTask(t, e) })
	t.Run("TwoStepsScancel", func(t *testing.T) { ociSlurmScancel(t, e) })
	t.Run("TwoTasksOneNode", func(t *testing.T) { ociSlurmTwoTasks(t, e) })
	t.Run("TimeLimit", func(t *testing.T) { ociSlurmTimeLimit(t, e) })
	t.Run("RunTimeRun", func(t *testing.T) { ociSlurmRunMode(t, e) })
}

// ociSlurmRunMode: with RunTimeRun, the task's stdio is the container's
// (srun prints what it wrote) and its exit status is srun's; scancel ends
// a running one; nothing is left.
func ociSlurmRunMode(t *testing.T, e *ociSlurmEnv) {
	e.install(t, ociConfRunLines(e.ociEnv.bin, e.state, e.logs))
	defer e.install(t, ociConfLines(e.ociEnv.bin, e.state, e.logs))
	r := hpcRun(t, &hpcFixture{dir: e.out}, 120*time.Second, nil, "srun", "-n1", "--container="+e.bundle,
		"sh", "-c", "echo out $(id -u) $(hostname); echo err >&2; exit 3")
	if r.code != 3 || !strings.Contains(r.out, "out 0 runc") || !strings.Contains(r.err, "err") {
		t.Errorf("srun --container with RunTimeRun: exit %d stdout %q stderr %q; want 3, \"out 0 runc\" and \"err\"", r.code, r.out, r.err)
	}
	e.checkClean(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	name := fmt.Sprintf("nsfork-ocirun-%d", os.Getpid())
	cmd, out := srunStart(t, ctx, "-n1", "--job-name", name, "--container="+e.bundle, "sh", "-c", "echo up > /out/runmode; exec sleep 1000")
	defer cmd.Process.Kill()
	if !waitFor(60*time.Second, func() bool { b, _ := os.ReadFile(filepath.Join(e.out, "runmode")); return string(b) == "up\n" }) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the task did not start: %q", out)
	}
	cgroups := e.records(t)
	if err := exec.Command("scancel", "--name", name).Run(); err != nil {
		t.Fatalf("scancel: %v", err)
	}
	cmd.Wait()
	if ctx.Err() != nil || !strings.Contains(out.String(), "CANCELLED") {
		t.Errorf("srun after scancel: %q", out)
	}
	e.checkClean(t, cgroups)
}

// ociSlurmTask: a one-task step runs in a container, as root and as uid
// 65534 (rootless), with the exit status of the task; nothing is left.
func ociSlurmTask(t *testing.T, e *ociSlurmEnv) {
	for _, c := range []struct{ name, bundle, uid string }{{"root", e.bundle, "0"}, {"nobody", e.userB, "65534"}} {
		mark := filepath.Join(e.out, "task-"+c.name)
		r := hpcRun(t, &hpcFixture{dir: e.out}, 120*time.Second, nil, "setpriv", "--reuid="+c.uid, "--regid="+c.uid, "--clear-groups",
			"srun", "-n1", "--container="+c.bundle, "sh", "-c", "echo $(id -u) $(hostname) > /out/task-"+c.name)
		if r.code != 0 {
			t.Errorf("%s: srun --container: exit %d, stderr %q", c.name, r.code, r.err)
		}
		if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != "0 runc" {
			t.Errorf("%s: the task wrote %q (%v); want \"0 runc\" (root in the container's user namespace, the config's host name)", c.name, b, err)
		}
	}
	e.checkClean(t, nil)
}

// ociSlurmScancel: two steps in containers run at once, each its own
// container (id NODE.USER.JOB.STEP.TASK); scancel ends both through
// Slurm's kill and delete; nothing is left.
func ociSlurmScancel(t *testing.T, e *ociSlurmEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	name := fmt.Sprintf("nsfork-oci-%d", os.Getpid())
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range 2 {
		cmd, out := srunStart(t, ctx, "-n1", "--job-name", name, "--container="+e.bundle,
			"sh", "-c", fmt.Sprintf("echo up > /out/scancel-%d; exec sleep 1000", i))
		defer cmd.Process.Kill()
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	running := func() int {
		n := 0
		for _, st := range e.containers(t) {
			if st == "running" {
				n++
			}
		}
		return n
	}
	if !waitFor(90*time.Second, func() bool { return running() == 2 }) {
		for _, cmd := range cmds {
			cmd.Process.Kill()
			cmd.Wait()
		}
		t.Fatalf("two containers not running: %v; srun: %q %q", e.containers(t), outs[0], outs[1])
	}
	for i := range 2 {
		if b, _ := os.ReadFile(filepath.Join(e.out, fmt.Sprintf("scancel-%d", i))); string(b) != "up\n" {
			t.Errorf("step %d: the task did not run (%q)", i, b)
		}
	}
	ids := e.containers(t)
	for id := range ids {
		if !regexp.MustCompile(`^[^.]+\.root\.\d+\.0\.0$`).MatchString(id) {
			t.Errorf("container id %q is not oci.conf's NODE.USER.JOB.STEP.TASK", id)
		}
	}
	cgroups := e.records(t)
	if err := exec.Command("scancel", "--name", name).Run(); err != nil {
		t.Fatalf("scancel --name %s: %v", name, err)
	}
	for i, cmd := range cmds {
		err := cmd.Wait()
		if ctx.Err() != nil {
			t.Fatalf("srun did not end after scancel")
		}
		if !strings.Contains(outs[i].String(), "CANCELLED") {
			t.Errorf("srun %d after scancel: %v, output %q", i, err, outs[i])
		}
	}
	e.checkClean(t, cgroups)
}

// ociSlurmTwoTasks: Slurm 22.05 refuses a --container step with two tasks
// on one node before any runtime is called (for runc as for sandboxrun);
// from 23.02 on it runs one container per task, and both must run.
func ociSlurmTwoTasks(t *testing.T, e *ociSlurmEnv) {
	out, _ := exec.Command("srun", "--version").Output()
	old := regexp.MustCompile(`slurm[^ ]* (2[0-2])\.`).Match(out)
	r := hpcRun(t, &hpcFixture{dir: e.out}, 120*time.Second, nil, "srun", "-n2", "--container="+e.bundle,
		"sh", "-c", "echo two > /out/two-$SLURM_PROCID")
	if old {
		if r.code == 0 {
			t.Errorf("Slurm %s ran srun -n2 --container: the runtime can now be tested with two tasks", strings.TrimSpace(string(out)))
		}
		if _, err := os.Stat(filepath.Join(e.out, "two-0")); err == nil {
			t.Errorf("a task ran although Slurm refused the step")
		}
		t.Logf("%s refuses a --container step with 2 tasks on one node: %q", strings.TrimSpace(string(out)), r.err)
	} else {
		for i := range 2 {
			if b, err := os.ReadFile(filepath.Join(e.out, fmt.Sprintf("two-%d", i))); err != nil || string(b) != "two\n" {
				t.Errorf("srun -n2: task %d wrote %q (%v); srun exit %d %q", i, b, err, r.code, r.err)
			}
		}
	}
	e.checkClean(t, nil)
}

// ociSlurmTimeLimit: srun --time=1 ends the container at the time limit:
// the task ticks until the limit and not after, Slurm asked the runtime
// for the state and deleted the container, and nothing is left. 75-90 s:
// NSFORK_SLURM_TIMELIMIT=1 (CI runs it once, beside the suite).
//
// Whether the task sees the SIGTERM is a race in Slurm 22.05, not the
// runtime's: the step's task is slurmstepd's own process polling the
// runtime, which the SIGTERM ends at once, and then slurmstepd kills what
// is left of the step (the container included) without waiting KillWait.
func ociSlurmTimeLimit(t *testing.T, e *ociSlurmEnv) {
	testreq.OptIn(t, "NSFORK_SLURM_TIMELIMIT", "waits 75-90 s for Slurm's time limit (CI runs it once, beside the suite)")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	ticks := filepath.Join(e.out, "ticks")
	count := func() int { b, _ := os.ReadFile(ticks); return strings.Count(string(b), "tick") }
	start := time.Now()
	cmd, out := srunStart(t, ctx, "-n1", "--time=1", "--container="+e.bundle,
		"sh", "-c", "while :; do echo tick >> /out/ticks; sleep 1; done")
	defer cmd.Process.Kill()
	if !waitFor(60*time.Second, func() bool { return count() > 0 }) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the task did not start: %q", out)
	}
	c := e.containers(t)
	cgroups := e.records(t)
	if len(c) != 1 {
		t.Fatalf("containers while the task runs: %v", c)
	}
	var id string
	for id = range c {
		if c[id] != "running" {
			t.Errorf("container %s: %s, want running", id, c[id])
		}
	}
	cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("srun --time=1 did not end")
	}
	el := time.Since(start)
	n := count()
	t.Logf("srun --time=1 --container ended after %.0f s, %d ticks: %q", el.Seconds(), n, out)
	if !strings.Contains(out.String(), "DUE TO TIME LIMIT") || el < 60*time.Second {
		t.Errorf("srun ended after %s, output %q: want the time limit", el, out)
	}
	if n < 40 {
		t.Errorf("the task ticked %d times: it ended before the 1-minute limit", n)
	}
	e.checkClean(t, cgroups)
	if m := count(); m > n+1 {
		t.Errorf("the task ticked on after the step ended (%d, then %d)", n, m)
	}
	log, _ := os.ReadFile(filepath.Join(e.logs, "root.log"))
	if !strings.Contains(string(log), "delete --force "+id) {
		t.Errorf("Slurm did not delete %s through the runtime; log:\n%s", id, log)
	}
}
