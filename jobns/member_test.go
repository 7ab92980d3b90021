package jobns

// A job belongs to its job: members come only from launchers outside it,
// the holder ends with the last of them whatever happens inside, and the
// rendezvous is never a directory another user made.

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
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// insiderEnv makes the test binary, started as a rank, act as the
// insider: "join" tries to start a rank of the job from inside it;
// "squat" daemonizes, holds the job's lock and keeps connecting.
const insiderEnv = "NSFORK_JOBNS_INSIDER"

// TestInsiderHelper is the insider, run as a rank; it does nothing in a
// normal run.
func TestInsiderHelper(t *testing.T) {
	mode, dir, name := splitInsider(os.Getenv(insiderEnv))
	if mode == "" {
		t.Skip("helper of TestInsiderRefused and TestHolderEndsWithLastMember")
	}
	switch mode {
	case "join":
		j := &Job{Name: name, Dir: dir, Options: jobOptions()}
		r, err := j.Start(context.Background(), Spec{Argv: []string{"/bin/true"}, Env: []string{}})
		if err == nil {
			st, _ := r.Wait()
			fmt.Printf("JOINED exit %d\n", st.ExitCode())
			return
		}
		fmt.Printf("REFUSED %v\n", err)
	case "squat":
		sock, lockPath := paths(dir, name)
		lock, err := os.Open(lockPath)
		if err != nil {
			fmt.Printf("SQUAT open %v\n", err)
			return
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			fmt.Printf("SQUAT flock %v\n", err)
			return
		}
		fmt.Println("SQUATTING")
		os.Stdout.Close()
		for {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func splitInsider(v string) (mode, dir, name string) {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 {
		return "", "", ""
	}
	return parts[0], parts[1], parts[2]
}

func insider(j *Job, mode string) []string {
	return append(os.Environ(), insiderEnv+"="+mode+":"+j.Dir+":"+j.Name)
}

// TestInsiderRefused: a rank that asks the job's holder for another rank
// (as a second sandboxrun --share-ns started from inside would) is
// refused, with an error that says why.
func TestInsiderRefused(t *testing.T) {
	usernsWorks(t)
	j := newJob(t, "t-insider")
	r, rd := startOut(t, j, []string{os.Args[0], "-test.run=^TestInsiderHelper$"}, insider(j, "join"))
	out := readRank(t, r, rd)
	r.Wait()
	t.Logf("insider: %s", out)
	if !strings.Contains(out, "REFUSED") || !strings.Contains(out, ErrInsideJob.Error()) {
		t.Errorf("a rank joined its own job from inside: %q", out)
	}
}

// startOut starts a rank whose stdout is a pipe, and returns its read end.
func startOut(t *testing.T, j *Job, argv, env []string) (*Rank, *os.File) {
	t.Helper()
	rd, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	r, err := j.Start(context.Background(), Spec{Argv: argv, Env: env, Stdout: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return r, rd
}

// readRank reads the rank's first line.
func readRank(t *testing.T, r *Rank, rd *os.File) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := rd.Read(buf)
			b.Write(buf[:n])
			if err != nil || strings.Contains(b.String(), "\n") {
				break
			}
		}
		done <- b.String()
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(60 * time.Second):
		r.Kill()
		t.Fatal("the rank wrote nothing in 60 s")
		return ""
	}
}

// TestHolderEndsWithLastMember: a rank leaves a daemon behind in the job
// that holds the job's lock and connects to the holder without pause. When
// the last launcher outside leaves, the holder still ends within about a
// second, and the daemon with it.
func TestHolderEndsWithLastMember(t *testing.T) {
	usernsWorks(t)
	j := newJob(t, "t-lifetime")
	j.Grace = 0 // DefaultGrace
	argv := []string{"/bin/sh", "-c", `setsid "$0" -test.run='^TestInsiderHelper$' </dev/null & sleep 60`, os.Args[0]}
	r, rd := startOut(t, j, argv, insider(j, "squat"))
	if out := readRank(t, r, rd); !strings.Contains(out, "SQUATTING") {
		r.Kill()
		t.Fatalf("the daemon did not start: %q", out)
	}
	holders := holderPids(j.Name)
	if len(holders) != 1 {
		t.Fatalf("holders of %s: %v, want one", j.Name, holders)
	}
	daemons := helperPids(j)
	if len(daemons) == 0 {
		t.Fatal("the daemon is not running")
	}
	time.Sleep(300 * time.Millisecond) // connections pile up meanwhile
	left := time.Now()
	r.Kill() // the launcher outside is gone
	sock, _ := paths(j.Dir, j.Name)
	for _, pid := range append(holders, daemons...) {
		if !waitPidGone(pid, 10*time.Second) {
			t.Fatalf("pid %d still alive 10 s after the last member left", pid)
		}
	}
	took := time.Since(left)
	t.Logf("holder and daemon gone %v after the last member left (grace %v, lock wait %v)", took, DefaultGrace, lockWait)
	// DefaultGrace + lockWait is 0.7 s; the rest is for a loaded machine.
	if took > 3*time.Second {
		t.Errorf("the holder lived %v after the last member left, want about a second", took)
	}
	if !waitGone(sock, time.Second) {
		// The daemon held the lock: the holder left without it, and the
		// socket is stale; the next caller removes it.
		t.Logf("%s left behind (stale)", sock)
	}
}

// holderPids lists the holders of job name (their argv is
// "nsfork-jobns-holder NAME").
func holderPids(name string) []int {
	return scanProc(func(cmdline string) bool { return cmdline == "nsfork-jobns-holder\x00"+name+"\x00" })
}

// helperPids lists the insider daemons of j (by their environment).
func helperPids(j *Job) []int {
	want := insiderEnv + "=squat:" + j.Dir + ":" + j.Name
	var out []int
	for _, pid := range scanProc(func(string) bool { return true }) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err == nil && strings.Contains("\x00"+string(b), "\x00"+want+"\x00") {
			out = append(out, pid)
		}
	}
	return out
}

func scanProc(match func(cmdline string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && match(string(b)) {
			out = append(out, pid)
		}
	}
	return out
}

// waitPidGone waits until pid has exited (or is a zombie).
func waitPidGone(pid int, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestRuntimeDirOrder(t *testing.T) {
	uid := os.Geteuid()
	base := t.TempDir()
	mk := func(p string, mode os.FileMode) string {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	xdg := mk(filepath.Join(base, "xdg"), 0o700)
	open := mk(filepath.Join(base, "open"), 0o755)
	runUser := filepath.Join(base, "run-user")
	mk(filepath.Join(runUser, strconv.Itoa(uid)), 0o700)
	noRunUser := filepath.Join(base, "none")
	tmp := filepath.Join(base, "tmp")
	link := filepath.Join(base, "link")
	os.Symlink(xdg, link)
	for _, c := range []struct {
		xdg, runUser, want string
	}{
		{xdg, runUser, filepath.Join(xdg, "nsfork-jobns")},
		{open, runUser, filepath.Join(runUser, strconv.Itoa(uid), "nsfork-jobns")},
		{link, runUser, filepath.Join(runUser, strconv.Itoa(uid), "nsfork-jobns")},
		{"relative", noRunUser, filepath.Join(tmp, "nsfork-jobns-"+strconv.Itoa(uid))},
		{"", noRunUser, filepath.Join(tmp, "nsfork-jobns-"+strconv.Itoa(uid))},
	} {
		if got := runtimeDir(c.xdg, c.runUser, tmp, uid, ""); got != c.want {
			t.Errorf("runtimeDir(%q, %q) = %q, want %q", c.xdg, c.runUser, got, c.want)
		}
	}
}

// TestEnsureDirSquatted: a directory another user made is refused, naming
// that user. As root the squatter is uid 65534 (a directory made and
// given to it here); otherwise it is root (the system's /tmp).
func TestEnsureDirSquatted(t *testing.T) {
	dir, squatter := "/tmp", 0
	if os.Geteuid() == 0 {
		squatter = 65534
		dir = filepath.Join(t.TempDir(), "nsfork-jobns-0")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, squatter, squatter); err != nil {
			t.Fatal(err)
		}
	}
	err := ensureDir(dir)
	if !errors.Is(err, ErrSquatted) || !strings.Contains(err.Error(), "uid "+strconv.Itoa(squatter)) {
		t.Fatalf("ensureDir(%s) owned by uid %d: %v; want ErrSquatted naming the owner", dir, squatter, err)
	}
	t.Logf("%v", err)
	if st, _ := os.Lstat(dir); !ownedBy(st, squatter) {
		t.Errorf("%s changed hands", dir)
	}
}

// TestSquattedRuntimeDirJob: as root, uid 65534 pre-creates the /tmp
// rendezvous; a job that would use it fails naming the squatter, and
// never joins it. The other users' run goes through setpriv.
func TestSquattedRuntimeDirJob(t *testing.T) {
	usernsWorks(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user; TestEnsureDirSquatted covers the rootless check")
	}
	setpriv, err := exec.LookPath("setpriv")
	require(t, err == nil, "setpriv (util-linux) is missing")
	// A shared, sticky directory like /tmp that uid 65534 can reach.
	tmp, err := os.MkdirTemp("", "nsfork-squat-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(tmp, "nsfork-jobns-0")
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "mkdir", "-m", "0700", victim).CombinedOutput()
	if err != nil {
		t.Fatalf("mkdir as uid 65534: %v: %s", err, out)
	}
	// The choice RuntimeDir makes on a host without XDG_RUNTIME_DIR and
	// /run/user/0, with tmp as its /tmp.
	dir := runtimeDir("", filepath.Join(tmp, "no-run-user"), tmp, 0, "")
	if dir != victim {
		t.Fatalf("the rendezvous is %s, want the squatted %s", dir, victim)
	}
	j := &Job{Name: "t-squatted", Dir: dir, Options: jobOptions()}
	_, err = j.Start(context.Background(), Spec{Argv: []string{"/bin/true"}})
	if !errors.Is(err, ErrSquatted) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("job with a squatted rendezvous: %v; want ErrSquatted naming uid 65534", err)
	}
	t.Logf("%v", err)
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Errorf("the job left %d entries in the squatted %s", len(ents), victim)
	}
}

// TestSocketPathTooLong: a rendezvous too deep for a unix socket address
// is refused before anything is made, saying so (the kernel would say
// EINVAL).
func TestSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	j := &Job{Name: "t-long", Dir: dir, Options: jobOptions()}
	_, err := j.Start(context.Background(), Spec{Argv: []string{"/bin/true"}})
	if err == nil || !strings.Contains(err.Error(), "longer than a unix socket address") {
		t.Fatalf("a %d-byte socket path: %v, want a refusal that says why", len(dir)+len("/t-long.sock"), err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was made: %v", dir, err)
	}
}
