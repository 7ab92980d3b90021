package integration

// --share-ns under srun: the ranks of a Slurm step in one namespace set,
// and its end (step end, scancel).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nsinfoScript prints the rank's namespaces, then execs its arguments.
const nsinfoScript = `#!/bin/sh
for n in user pid mnt ipc; do echo "nsinfo $SLURM_PROCID $n $(readlink /proc/self/ns/$n)"; done
exec "$@"
`

// srunStep is one srun with an XDG_RUNTIME_DIR and a TMPDIR of its own:
// the job's name is the step's (PMIX_NAMESPACE), and the one lock file
// in its runtime directory tells it.
type srunStep struct {
	e   *shareEnv
	xdg string
	env []string
}

func (e *shareEnv) newStep(t *testing.T) *srunStep {
	t.Helper()
	d, err := os.MkdirTemp(e.dir, "step-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	s := &srunStep{e: e, xdg: filepath.Join(d, "xdg")}
	tmp := filepath.Join(d, "tmp")
	if err := os.Mkdir(s.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o1777)
	s.env = []string{"XDG_RUNTIME_DIR=" + s.xdg, "TMPDIR=" + tmp, "OMPI_MCA_btl=self,vader"}
	return s
}

func (s *srunStep) cmd(ctx context.Context, env []string, argv ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = append(append(os.Environ(), s.env...), env...)
	c.Dir = s.e.dir
	return c
}

func (s *srunStep) run(t *testing.T, env []string, argv ...string) shareRun {
	t.Helper()
	return runTimed(t, 120*time.Second, func(ctx context.Context) *exec.Cmd { return s.cmd(ctx, env, argv...) }, argv)
}

func (s *srunStep) jobDir() string { return filepath.Join(s.xdg, "nsfork-jobns") }

// jobName is the name of the step's job: that of the one NAME.lock in
// the runtime directory.
func (s *srunStep) jobName(t *testing.T) string {
	t.Helper()
	locks, _ := filepath.Glob(filepath.Join(s.jobDir(), "*.lock"))
	if len(locks) != 1 {
		t.Fatalf("want one lock file in %s, found %q", s.jobDir(), locks)
	}
	return strings.TrimSuffix(filepath.Base(locks[0]), ".lock")
}

// rankNS parses the nsinfo lines: rank to "user:[..] pid:[..] ...".
func rankNS(out string) map[string]string {
	ns := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "nsinfo" {
			ns[f[1]] = strings.TrimSpace(ns[f[1]] + " " + f[3])
		}
	}
	return ns
}

// checkRankNS checks that ranks 0 and 1 reported the same four
// namespaces, none of them the host's, and returns their pid namespace.
func checkRankNS(t *testing.T, out string) string {
	t.Helper()
	ns := rankNS(out)
	if len(ns) != 2 || ns["0"] != ns["1"] || len(strings.Fields(ns["0"])) != 4 {
		t.Fatalf("ranks 0 and 1 do not report one set of user, pid, mnt and ipc namespaces: %q (output %q)", ns, out)
	}
	var pidNS string
	for _, v := range strings.Fields(ns["0"]) {
		n, _, _ := strings.Cut(v, ":")
		if v == ownNS(t, n) {
			t.Errorf("the ranks' %s namespace is the host's (%s)", n, v)
		}
		if n == "pid" {
			pidNS = v
		}
	}
	return pidNS
}

// inPidNS lists the host processes in pid namespace ns (those whose
// namespace this user may read: all of them as root).
func inPidNS(ns string) []int {
	return pidsWhere(func(dir string) bool {
		l, err := os.Readlink(filepath.Join(dir, "ns", "pid"))
		return err == nil && l == ns
	})
}

// checkJobGone: after the step, nothing of the job's namespace set is
// left: no process with one of the markers in its command line, no
// holder, no process in its pid namespace, and no socket.
func checkJobGone(t *testing.T, s *srunStep, name, pidNS string, markers ...string) {
	t.Helper()
	start := time.Now()
	left := func() []string {
		var l []string
		for _, m := range append([]string{"nsfork-jobns-holder " + name}, markers...) {
			if n := pgrepCount(m); n > 0 {
				l = append(l, fmt.Sprintf("%d processes match %q", n, m))
			}
		}
		if ps := inPidNS(pidNS); len(ps) > 0 {
			l = append(l, fmt.Sprintf("pids %v are in the job's %s", ps, pidNS))
		}
		return l
	}
	if !waitUntil(15*time.Second, func() bool { return len(left()) == 0 }) {
		out, _ := exec.Command("ps", "-eo", "pid,ppid,uid,stat,args").Output()
		t.Errorf("the job's namespace set outlived its step: %q\n%s", left(), out)
		for _, p := range inPidNS(pidNS) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	} else {
		t.Logf("no process of the job left %.2f s after srun returned", time.Since(start).Seconds())
	}
	// Killed with the step's cgroup (SIGKILL, as soon as the tasks have
	// ended: the holder is still in its grace period), the holder cannot
	// remove its socket; the next --share-ns start in the directory
	// removes it as stale (its lock free, its connect refused).
	sock := filepath.Join(s.jobDir(), name+".sock")
	gone := func() bool { _, err := os.Lstat(sock); return os.IsNotExist(err) }
	if waitUntil(3*time.Second, gone) {
		t.Logf("the holder removed %s", sock)
		return
	}
	if _, err := net.Dial("unix", sock); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%s is left after the step and a connect to it gives %v, not ECONNREFUSED", sock, err)
	}
	if r := s.e.run(t, []string{"XDG_RUNTIME_DIR=" + s.xdg}, "--share-ns", "next-"+name, "--", "true"); r.code != 0 {
		t.Fatalf("the next --share-ns start in %s: exit %d, stderr %q", s.xdg, r.code, r.err)
	}
	if !gone() {
		t.Errorf("%s, left by the holder killed with the step, is still there after the next --share-ns start in its directory", sock)
	} else {
		t.Logf("the holder died with the step's cgroup and left %s; the next --share-ns start removed it", filepath.Base(sock))
	}
}

var srunSeq int

func TestShareNSSrun(t *testing.T) { shareSrun(t, shareSetup(t)) }

// shareSrun: srun --mpi=pmix -n 2 sandboxrun --preset mpi --share-ns job.
func shareSrun(t *testing.T, e *shareEnv) {
	ok, why := slurmUp()
	require(t, ok, why)
	for _, b := range []string{"mpicc", "mpirun"} {
		if _, err := exec.LookPath(b); err != nil {
			require(t, false, b+" not found (apt-get install openmpi-bin libopenmpi-dev)")
		}
	}
	out, err := exec.Command("srun", "--mpi=list").CombinedOutput()
	require(t, err == nil && strings.Contains(string(out), "pmix"),
		fmt.Sprintf("srun --mpi=list has no pmix (apt-get install libpmix2, then restart slurmd): %v %q", err, out))
	wrap := filepath.Join(e.dir, "nsinfo.sh")
	if err := os.WriteFile(wrap, []byte(nsinfoScript), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("PingPong", func(t *testing.T) { shareSrunPingpong(t, e, wrap) })
	t.Run("StepEnd", func(t *testing.T) {
		slurmCgroupReady(t)
		shareSrunEnd(t, e, wrap, false)
	})
	t.Run("Scancel", func(t *testing.T) {
		slurmCgroupReady(t)
		shareSrunEnd(t, e, wrap, true)
	})
}

// shareSrunPingpong: the two ranks of a step join one namespace set,
// named after the step's PMIX_NAMESPACE, and OpenMPI's CMA works between
// them (forced); rootless without --share-ns it is refused.
func shareSrunPingpong(t *testing.T, e *shareEnv, wrap string) {
	pp := e.pingpong(t)
	srun := []string{"srun", "--mpi=pmix", "-n", "2", "--time=5"}
	cma := []string{"OMPI_MCA_btl_vader_single_copy_mechanism=cma"}

	r := e.newStep(t).run(t, nil, append(slicesClone(srun), pp, pingpongIters)...)
	m := pingpongLine.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		t.Fatalf("bare srun: exit %d, stdout %q stderr %q", r.code, r.out, r.err)
	}
	bare, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("bare srun, 8 B: %.3f µs one way (load %s)", bare, loadAvg())

	for _, c := range []struct{ what, iters, bytes string }{{"8 B", pingpongIters, "8"}, {"1 MiB", "200", "1048576"}} {
		s := e.newStep(t)
		start := time.Now()
		r := s.run(t, cma, append(slicesClone(srun), e.bin, "--preset", "mpi", hostRootFlag(), "--share-ns", "job", "--", wrap, pp, c.iters, c.bytes)...)
		el := time.Since(start)
		m := pingpongLine.FindStringSubmatch(r.out)
		if r.code != 0 || m == nil {
			t.Fatalf("srun sandboxrun --preset mpi --share-ns job (CMA forced, %s): exit %d, stdout %q, stderr %q", c.what, r.code, r.out, r.err)
		}
		if strings.Contains(r.err, "different user namespaces") {
			t.Errorf("CMA refused between ranks of one job namespace set: %q", r.err)
		}
		checkRankNS(t, r.out)
		if name := s.jobName(t); !strings.HasPrefix(name, "pmix-") {
			t.Errorf("--share-ns job under srun --mpi=pmix named the job %q, want pmix-PMIX_NAMESPACE", name)
		}
		p0, _ := strconv.Atoi(m[2])
		p1, _ := strconv.Atoi(m[3])
		if p0 == p1 || p0 <= 1 || p1 <= 1 || p0 > 1000 || p1 > 1000 {
			t.Errorf("rank pids %d,%d: want two small pids of the job's pid namespace, neither 1 (the holder)", p0, p1)
		}
		us, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("srun --share-ns job, CMA forced, %s: %.3f µs one way, srun took %.2f s (load %s)", c.what, us, el.Seconds(), loadAvg())
		if c.bytes == "8" && us > latencyBound(bare) {
			t.Errorf("%s: %.3f µs one way, over the bound %.3f µs (bare %.3f µs)", c.what, us, latencyBound(bare), bare)
		}
	}

	r = e.newStep(t).run(t, cma, append(slicesClone(srun), e.bin, "--preset", "mpi", hostRootFlag(), "--", pp, "200", "1048576")...)
	if root() {
		t.Logf("as root (no user namespace per rank) without --share-ns, CMA forced: exit %d", r.code)
	} else if r.code == 0 || !cmaRefused(r.err) {
		t.Errorf("rootless ranks in separate user namespaces with CMA forced: exit %d, stderr %q; want OpenMPI's refusal", r.code, r.err)
	} else {
		t.Logf("rootless without --share-ns, CMA forced: exit %d, OpenMPI refuses CMA between different user namespaces", r.code)
	}
}

// shareSrunEnd: under proctrack/cgroup, nothing of the job's namespace
// set outlives the step, whether it ends by itself or is cancelled. Each
// rank leaves a daemon in the namespace set (own session, so out of the
// rank's process group, TERM, HUP and INT ignored): only the end of the
// holder, pid 1 of the job's pid namespace, takes it.
func shareSrunEnd(t *testing.T, e *shareEnv, wrap string, cancel bool) {
	srunSeq++
	n := srunSeq
	rankTok := fmt.Sprintf("%d.%d", 70000+n, os.Getpid())
	daemonTok := fmt.Sprintf("%d.%d", 75000+n, os.Getpid())
	script := fmt.Sprintf(`( trap "" TERM HUP INT; exec setsid sleep %s </dev/null >/dev/null 2>&1 & )
`, daemonTok)
	if cancel {
		script += "exec sleep " + rankTok + "\n"
	} else {
		script += "sleep 1\n"
	}
	jobName := fmt.Sprintf("nsfork-share-%d-%d", os.Getpid(), n)
	s := e.newStep(t)
	ctx, stop := context.WithTimeout(context.Background(), 120*time.Second)
	defer stop()
	cmd := s.cmd(ctx, nil, "srun", "--mpi=pmix", "-n", "2", "--time=5", "--job-name", jobName,
		e.bin, "--preset", "mpi", "--share-ns", "job", "--", wrap, "/bin/sh", "-c", script)
	var out, errOut lineWriter
	cmd.Stdout, cmd.Stderr = &out, &errOut
	t.Cleanup(func() {
		for _, p := range procsWith(rankTok, daemonTok) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Both ranks' daemons run (and, to be cancelled, both ranks).
	if !waitUntil(60*time.Second, func() bool {
		return len(procsWith(daemonTok)) == 2 && (!cancel || len(procsWith(rankTok)) == 2)
	}) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the ranks did not start their daemons: daemons %v ranks %v; stdout %q stderr %q", procsWith(daemonTok), procsWith(rankTok), out.String(), errOut.String())
	}
	// The check of the pid namespace below sees its processes: the
	// daemons at least (and the holder, where this user may read its
	// namespaces: it is not dumpable).
	// Each rank's four lines: srun forwards them as they come, so one
	// rank's first line may be there before its others (CI once checked
	// then and found only "user" of each rank).
	if !waitUntil(10*time.Second, func() bool {
		ns := rankNS(out.String())
		return len(ns) == 2 && len(strings.Fields(ns["0"])) == 4 && len(strings.Fields(ns["1"])) == 4
	}) {
		t.Fatalf("the ranks did not report their namespaces: %q", out.String())
	}
	ps := inPidNS(checkRankNS(t, out.String()))
	if len(ps) < 2 {
		t.Errorf("%d processes found in the job's pid namespace while it runs, want at least the 2 daemons", len(ps))
	}
	t.Logf("%d processes in the job's pid namespace while it runs", len(ps))
	if cancel {
		q, err := exec.Command("squeue", "-h", "-o", "%i", "-n", jobName).Output()
		job := strings.TrimSpace(string(q))
		if err != nil || job == "" {
			t.Fatalf("squeue -n %s: %v %q", jobName, err, q)
		}
		start = time.Now()
		if err := exec.Command("scancel", job).Run(); err != nil {
			t.Fatalf("scancel %s: %v", job, err)
		}
	}
	err := cmd.Wait()
	t.Logf("srun ended %.2f s after %s: %v", time.Since(start).Seconds(), map[bool]string{false: "its start", true: "scancel"}[cancel], err)
	if ctx.Err() != nil {
		t.Fatalf("srun did not end; stdout %q stderr %q", out.String(), errOut.String())
	}
	if !cancel && err != nil {
		t.Errorf("srun: %v; stdout %q stderr %q", err, out.String(), errOut.String())
	}
	if cancel && !strings.Contains(errOut.String(), "CANCELLED") {
		t.Errorf("srun's stderr does not say the step was cancelled: %q", errOut.String())
	}
	pidNS := checkRankNS(t, out.String())
	checkJobGone(t, s, s.jobName(t), pidNS, "sleep "+rankTok, "sleep "+daemonTok)
}
