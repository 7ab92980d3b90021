package integration

// MPI jobs in sandboxes: a whole job in one sandbox, a sandbox per rank,
// what the mpi preset applies, and a private /dev/shm detected. The
// ping-pong latency of each is held to a bound set by TestMPIBare.

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hpcBare is the bare mpirun's one-way latency in µs, measured by
// TestMPIBare; 0 when -run left it out (the bound is the absolute one
// then).
var hpcBare float64

// TestMPIBare times the ping-pong under a bare mpirun: the reference the
// other tests' bound comes from. It comes first in this file so that it
// runs before them.
func TestMPIBare(t *testing.T) {
	f := hpcSetup(t)
	hpcBare = runPingpong(t, f, nil, append(mpirunArgs(root()), f.pingpong, pingpongIters)...).us
	t.Logf("bare mpirun: %.3f µs one way (load %s)", hpcBare, loadAvg())
}

// checkLatency fails unless p is at shared-memory speed: within
// latencyBound of the bare run's.
func checkLatency(t *testing.T, what string, p pingpong) {
	t.Helper()
	bound := latencyBound(hpcBare)
	t.Logf("%s: %.3f µs one way, bare %.3f µs (load %s)", what, p.us, hpcBare, loadAvg())
	if p.us > bound {
		t.Errorf("%s: %.3f µs one way, over the bound %.3f µs (bare %.3f µs): not shared-memory speed", what, p.us, bound, hpcBare)
	}
}

func TestMPIWholeJob(t *testing.T) {
	f := hpcSetup(t)
	// The defaults: root inside (mapped from the caller when rootless),
	// so mpirun needs --allow-run-as-root in both modes. mpirun is a
	// small pid of the sandbox's pid namespace, the same in every
	// sandbox, and OpenMPI names its session directory in $TMPDIR and
	// its segments in /dev/shm after uid, host and pid: a sandbox
	// that shares /tmp and /dev/shm with another job running as the
	// same uid inside may collide with it. So: a TMPDIR of its own
	// with the defaults, and the recommended private /dev/shm.
	mpirun := append(mpirunArgs(true), f.pingpong, pingpongIters)
	tmp := tempDir(t)
	os.Chmod(tmp, 0o777)
	p := runPingpong(t, f, []string{"TMPDIR=" + tmp}, append([]string{f.bin, "--rw", tmp, "--"}, mpirun...)...)
	checkLatency(t, "sandboxrun -- mpirun", p)
	if p.pid0 == 1 || p.pid1 == 1 || p.pid0 > 1000 || p.pid1 > 1000 {
		t.Errorf("rank pids %d,%d: want small pids of the sandbox's own pid namespace, neither of them 1", p.pid0, p.pid1)
	}
	p = runPingpong(t, f, nil, append([]string{f.bin, "--rw", tmp, "--tmpfs", "/dev/shm", "--env", "TMPDIR=" + tmp, "--"}, mpirun...)...)
	checkLatency(t, "sandboxrun --tmpfs /dev/shm --env TMPDIR=DIR -- mpirun", p)
	if !root() {
		// Mapped to itself: mpirun runs as the user, no
		// --allow-run-as-root.
		uid := strconv.Itoa(os.Geteuid())
		gid := strconv.Itoa(os.Getegid())
		p := runPingpong(t, f, nil, append(append([]string{f.bin, "--uid", uid, "--gid", gid, "--rw", tmp, "--tmpfs", "/dev/shm", "--env", "TMPDIR=" + tmp, "--"},
			mpirunArgs(false)...), f.pingpong, pingpongIters)...)
		checkLatency(t, "sandboxrun --uid $(id -u) -- mpirun", p)
	}
}

func TestMPIPerRank(t *testing.T) {
	f := hpcSetup(t)
	p := runPingpong(t, f, nil, append(mpirunArgs(root()), f.bin, "--preset", "mpi", hostRootFlag(), "--", f.pingpong, pingpongIters)...)
	checkLatency(t, "mpirun sandboxrun --preset mpi", p)
	if p.pid0 == p.pid1 || p.pid0 == 1 || p.pid1 == 1 {
		t.Errorf("rank pids %d,%d: want the host's pids (no pid namespace per rank)", p.pid0, p.pid1)
	}
}

func TestMPIPrivateShmDetected(t *testing.T) {
	f := hpcSetup(t)
	// Without the preset, a rank whose /dev/shm is private gets a
	// warning; with it, sandboxrun refuses to start.
	// The ranks run /bin/true: the warning is sandboxrun's, before
	// the command starts (MPI_Init with a private /dev/shm may fail,
	// or hang mpirun, which is not what this test is about).
	base := append(mpirunArgs(root()), f.bin, "--share-fs", "--share-net", "--share", "pid", "--share", "ipc", "--tmpfs", "/dev/shm")
	r := hpcRun(t, f, 60*time.Second, nil, append(base, "--", "/bin/true")...)
	if !strings.Contains(r.err, "warning: running as an MPI rank under mpirun") || !strings.Contains(r.err, "/dev/shm is private") {
		t.Errorf("private /dev/shm under mpirun: no warning; exit %d stderr %q", r.code, r.err)
	}
	r = hpcRun(t, f, 60*time.Second, nil, append(mpirunArgs(root()), f.bin, "--preset", "mpi", hostRootFlag(), "--tmpfs", "/dev/shm", "--", f.pingpong, "10")...)
	if r.code == 0 || !strings.Contains(r.err, "--preset mpi: mounts: /dev/shm is private") {
		t.Errorf("--preset mpi --tmpfs /dev/shm: exit %d, stderr %q; want exit 125 and the error", r.code, r.err)
	}
}

// TestMPIPresetInside: what the mpi preset applies, seen from inside a rank.
func TestMPIPresetInside(t *testing.T) {
	f := hpcSetup(t)
	script := `id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; for n in user pid mnt net ipc; do echo "ns-$n:$(readlink /proc/self/ns/$n)"; done
touch /usr/nsfork-mpi-probe 2>/dev/null && echo usr-writable; touch /dev/shm/nsfork-mpi-probe.$$ && rm /dev/shm/nsfork-mpi-probe.$$ && echo shm-ok; echo "env:$OMPI_COMM_WORLD_SIZE"; echo "map:$(tr -s ' ' </proc/self/uid_map | sed 's/^ //')"`
	r := hpcRun(t, f, 60*time.Second, nil, append(mpirunArgs(root()), f.bin, "--preset", "mpi", "--", "/bin/sh", "-c", script)...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	st := statusOf(r.out)
	if st["CapEff"] != "0000000000000000" || st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("CapEff %q NoNewPrivs %q Seccomp %q: want none, 1, 2", st["CapEff"], st["NoNewPrivs"], st["Seccomp"])
	}
	if root() {
		// Root's ranks are uid 0 of a range of unprivileged host ids.
		if !strings.HasPrefix(r.out, "0\n") || strings.Contains(r.out, "map:0 0 ") {
			t.Errorf("uid inside: %q, want 0 mapped onto a leased range, never host root", r.out)
		}
	} else if !strings.HasPrefix(r.out, strconv.Itoa(os.Geteuid())+"\n") {
		t.Errorf("uid inside: %q, want %d (mapped to itself)", r.out, os.Geteuid())
	}
	for _, n := range []string{"pid", "net", "ipc"} {
		if st["ns-"+n] != ownNS(t, n) {
			t.Errorf("%s namespace %q, want the host's %q", n, st["ns-"+n], ownNS(t, n))
		}
	}
	if st["ns-mnt"] == ownNS(t, "mnt") {
		t.Error("no mount namespace of its own")
	}
	if st["ns-user"] == ownNS(t, "user") {
		t.Errorf("user namespace %q (own %q): want a new one, as root too", st["ns-user"], ownNS(t, "user"))
	}
	if strings.Contains(r.out, "usr-writable") {
		t.Error("/usr is writable in the mpi preset")
	}
	if strings.Count(r.out, "shm-ok") != 2 || strings.Count(r.out, "env:2") != 2 {
		t.Errorf("want both ranks to write /dev/shm and see OMPI_COMM_WORLD_SIZE=2: %q", r.out)
	}
}
