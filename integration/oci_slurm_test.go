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
// the two-task steps (oci_slurm_nodes_test.go) run in scripts/slurm-up.sh's
// partition "two", whose two nodes are two slurmd on this host, one task
// on each.

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
	nodes  []string // the nodes of ociSlurmPartition
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
	e := &ociSlurmEnv{state: filepath.Join(tempDir(t), "state"), out: sharedDir(t), logs: sharedDir(t), nodes: ociSlurmNodes(t)}
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

// checkClean: nothing left in the state directories, nor of the cgroups
// (those the containers had, and the job_J directories of jobs under every
// node's slurm_NODE tree in every cgroup hierarchy, which held the steps
// and, below them, the containers).
//
// killed: the steps were ended by Slurm (scancel, a time limit). Slurm
// 22.05 then kills every process of the step (the container's monitor
// too), removes the step's cgroups and only then runs RunTimeDelete: the
// container's memory cgroup, below the task's, is still there when Slurm
// removes the task's, and Slurm does not try again once delete has
// removed it. The job's memory cgroups are left, empty (runc leaves them
// in every hierarchy it nests in: cpuset, freezer and memory). That is
// logged, checked to hold no process and nothing of nsfork's, and removed
// here, as scripts/slurm-down.sh would.
func (e *ociSlurmEnv) checkClean(t *testing.T, cgroups map[string]map[string]string, killed bool, jobs ...string) {
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
	memory := cgroupV1Mounts()["memory"]
	jobDirs := func() []string {
		var left []string
		for _, mnt := range escCgroupMounts() {
			if killed && mnt.dir == memory {
				continue
			}
			for _, n := range e.nodes {
				for _, j := range jobs {
					m, _ := filepath.Glob(filepath.Join(mnt.dir, "slurm_"+n, "uid_*", "job_"+j))
					left = append(left, m...)
				}
			}
		}
		return left
	}
	// slurmstepd removes them as the step ends, after srun has returned.
	if !waitFor(30*time.Second, func() bool { return len(jobDirs()) == 0 }) {
		for _, d := range jobDirs() {
			sub, _ := exec.Command("find", d, "-type", "d").Output()
			t.Errorf("job cgroup %s left after the job ended: %s", d, sub)
		}
	}
	if killed && memory != "" {
		for _, n := range e.nodes {
			for _, j := range jobs {
				m, _ := filepath.Glob(filepath.Join(memory, "slurm_"+n, "uid_*", "job_"+j))
				for _, d := range m {
					removeEmptyCgroups(t, d)
				}
			}
		}
	}
}

// removeEmptyCgroups removes the cgroup tree at dir, deepest first, after
// checking that no directory of it is nsfork's and none holds a process.
func removeEmptyCgroups(t *testing.T, dir string) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, d := range dirs {
		procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if strings.HasPrefix(filepath.Base(d), "nsfork-") || err != nil || len(procs) != 0 {
			t.Errorf("cgroup %s left after the job ended, holding processes %q (%v) or nsfork's", d, procs, err)
			return
		}
	}
	t.Logf("known limit of Slurm 22.05 (cgroups removed before RunTimeDelete): empty memory cgroups left, removed: %v", dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil {
			t.Errorf("rmdir %s: %v", dirs[i], err)
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
	t.Run("TwoTasks", func(t *testing.T) { ociSlurmTwoTasks(t, e) })
	t.Run("TwoTasksScancel", func(t *testing.T) { ociSlurmScancel(t, e) })
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
		"sh", "-c", "echo out $(id -u) $(hostname) job $SLURM_JOB_ID; echo err >&2; exit 3")
	m := regexp.MustCompile(`out 0 runc job (\d+)`).FindStringSubmatch(r.out)
	if r.code != 3 || m == nil || !strings.Contains(r.err, "err") {
		t.Fatalf("srun --container with RunTimeRun: exit %d stdout %q stderr %q; want 3, \"out 0 runc job JOB\" and \"err\"", r.code, r.out, r.err)
	}
	e.checkClean(t, nil, false, m[1])

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	name := fmt.Sprintf("nsfork-ocirun-%d", os.Getpid())
	cmd, out := srunStart(t, ctx, "-n1", "--job-name", name, "--container="+e.bundle, "sh", "-c", "echo $SLURM_JOB_ID > /out/runmode; exec sleep 1000")
	defer cmd.Process.Kill()
	var job []byte
	if !waitFor(60*time.Second, func() bool {
		job, _ = os.ReadFile(filepath.Join(e.out, "runmode"))
		return bytes.HasSuffix(job, []byte("\n"))
	}) {
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
	e.checkClean(t, cgroups, true, strings.TrimSpace(string(job)))
}

// ociSlurmTask: a one-task step runs in a container, as root and as uid
// 65534 (rootless), with the exit status of the task; nothing is left.
func ociSlurmTask(t *testing.T, e *ociSlurmEnv) {
	var jobs []string
	for _, c := range []struct{ name, bundle, uid string }{{"root", e.bundle, "0"}, {"nobody", e.userB, "65534"}} {
		mark := filepath.Join(e.out, "task-"+c.name)
		r := hpcRun(t, &hpcFixture{dir: e.out}, 120*time.Second, nil, "setpriv", "--reuid="+c.uid, "--regid="+c.uid, "--clear-groups",
			"srun", "-n1", "--container="+c.bundle, "sh", "-c", "echo $(id -u) $(hostname) $SLURM_JOB_ID > /out/task-"+c.name)
		if r.code != 0 {
			t.Errorf("%s: srun --container: exit %d, stderr %q", c.name, r.code, r.err)
		}
		b, err := os.ReadFile(mark)
		f := strings.Fields(string(b))
		if err != nil || len(f) != 3 || f[0] != "0" || f[1] != "runc" {
			t.Errorf("%s: the task wrote %q (%v); want \"0 runc JOB\" (root in the container's user namespace, the config's host name)", c.name, b, err)
			continue
		}
		jobs = append(jobs, f[2])
	}
	e.checkClean(t, nil, false, jobs...)
}
