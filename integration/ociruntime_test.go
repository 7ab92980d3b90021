package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/ociruntime"
)

// The runc-compatible command line (docs/oci-runtime.md): create, start,
// state, kill, delete, run, list, ps, features, with the state under
// --root. Root and rootless alike: the bundle is runc spec's (--rootless
// when not root) with a busybox rootfs, the root a fresh test directory.

// ociEnv is one state directory and the sandboxrun that uses it.
type ociEnv struct {
	bin, root string
	wrap      []string // runs every command through it (nsenter), when set
}

func newOCIEnv(t *testing.T) *ociEnv {
	t.Helper()
	return &ociEnv{bin: sandboxrunBin(t), root: filepath.Join(tempDir(t), "state")}
}

// oci runs `sandboxrun --root ROOT args...` with stdout and stderr in
// files, not pipes: create's stdio becomes the container's, which would
// hold a pipe open for as long as the container lives (as with runc).
func (e *ociEnv) oci(t *testing.T, args ...string) cliResult {
	t.Helper()
	r, _ := e.ociOut(t, args...)
	return r
}

// ociOut is oci, also returning the file that holds the command's stdout,
// which a container made by create goes on writing to.
func (e *ociEnv) ociOut(t *testing.T, args ...string) (cliResult, string) {
	t.Helper()
	dir := tempDir(t)
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	defer errf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append(append([]string{}, e.wrap...), e.bin, "--root", e.root), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, errf
	code := exitOf(t, args, cmd.Run(), ctx)
	o, _ := os.ReadFile(out.Name())
	es, _ := os.ReadFile(errf.Name())
	return cliResult{string(o), string(es), code}, out.Name()
}

func (e *ociEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	r := e.oci(t, args...)
	if r.code != 0 {
		t.Fatalf("sandboxrun --root %s %q: exit %d, stderr %q", e.root, args, r.code, r.err)
	}
	return r.out
}

// fails runs a command that must fail with 125 and a message containing want.
func (e *ociEnv) fails(t *testing.T, want string, args ...string) {
	t.Helper()
	r := e.oci(t, args...)
	if r.code != 125 || !strings.Contains(r.err, want) {
		t.Errorf("sandboxrun %q: exit %d stderr %q; want 125 and %q", args, r.code, r.err, want)
	}
}

func (e *ociEnv) state(t *testing.T, id string) specs.State {
	t.Helper()
	var st specs.State
	out := e.must(t, "state", id)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("state %s: %v: %q", id, err, out)
	}
	return st
}

// waitStatus polls state until it says want.
func (e *ociEnv) waitStatus(t *testing.T, id, want string) {
	t.Helper()
	var last string
	if !waitFor(20*time.Second, func() bool { last = string(e.state(t, id).Status); return last == want }) {
		t.Fatalf("container %s: status %q, want %q", id, last, want)
	}
}

// ociBundle is makeBundle with process.terminal off and the given args,
// changed by edit when not nil.
func ociBundle(t *testing.T, edit func(*specs.Spec), args ...string) string {
	t.Helper()
	dir := makeBundle(t)
	for _, l := range []string{"sleep", "true"} {
		os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", l))
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = args
	if edit != nil {
		edit(&s)
	}
	if b, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// record reads a container's state.json (for its cgroup directories and
// processes), while it exists.
func (e *ociEnv) record(t *testing.T, id string) (rec struct {
	Init    struct{ Pid int }
	Monitor struct{ Pid int }
	Cgroup  map[string]string
}) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkGone: the id is unknown, its directory, cgroup and monitor gone,
// the root empty.
func (e *ociEnv) checkGone(t *testing.T, id string, cgroup map[string]string, monitor int) {
	t.Helper()
	e.fails(t, "does not exist", "state", id)
	ents, err := os.ReadDir(e.root)
	if err != nil || len(ents) != 0 {
		t.Errorf("state directory %s after delete: %v %v", e.root, ents, err)
	}
	for ctrl, d := range cgroup {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s of %s still there after delete: %s (%v)", ctrl, id, d, err)
		}
	}
	if monitor > 0 && waitFor(5*time.Second, func() bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", monitor)); return err != nil }) == false {
		t.Errorf("the monitor (pid %d) of %s still runs after delete", monitor, id)
	}
}

func TestOCIRuntime(t *testing.T) {
	t.Run("Lifecycle", ociLifecycle)
	t.Run("InitExits", ociInitExits)
	t.Run("KillCreated", ociKillCreated)
	t.Run("KillAll", ociKillAll)
	t.Run("Serialised", ociSerialised)
	t.Run("Errors", ociErrors)
	t.Run("Hooks", ociHooks)
	t.Run("CreateKilled", ociCreateKilled)
	t.Run("Run", ociRunVerb)
	t.Run("ListFeatures", ociListFeatures)
}

// ociLifecycle: create -> created (the command not yet started, the state
// outliving the create process) -> start -> running -> kill -> stopped ->
// delete -> gone, with nothing left.
func ociLifecycle(t *testing.T) {
	ociLifecycleIn(t, newOCIEnv(t), ociBundle(t, nil, "sh", "-c", "echo started; exec sleep 1000"))
}

// ociLifecycleIn is ociLifecycle with e and a bundle whose command echoes
// "started" and sleeps.
func ociLifecycleIn(t *testing.T, e *ociEnv, bundle string) {
	// sharedDir: the runtime may run as another user (TestUserNSRoot).
	pidFile := filepath.Join(sharedDir(t), "pid")
	r, out := e.ociOut(t, "create", "--bundle", bundle, "--pid-file", pidFile, "c1")
	if r.code != 0 {
		t.Fatalf("create: exit %d stderr %q", r.code, r.err)
	}
	st := e.state(t, "c1")
	if st.Status != specs.StateCreated || st.Pid <= 0 || st.ID != "c1" || st.Bundle != bundle || st.Version == "" {
		t.Fatalf("state after create: %+v", st)
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != fmt.Sprint(st.Pid) {
		t.Errorf("--pid-file says %q, state says pid %d", b, st.Pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); err != nil {
		t.Fatalf("the created container's init (pid %d) is not alive after create exited: %v", st.Pid, err)
	}
	time.Sleep(200 * time.Millisecond)
	if b, _ := os.ReadFile(out); len(b) != 0 {
		t.Fatalf("the command ran before start: %q", b)
	}
	rec := e.record(t, "c1")
	e.fails(t, "does not exist", "start", "nope")
	e.must(t, "start", "c1")
	if !waitFor(10*time.Second, func() bool { b, _ := os.ReadFile(out); return string(b) == "started\n" }) {
		b, _ := os.ReadFile(out)
		t.Fatalf("after start the command wrote %q, want \"started\\n\"", b)
	}
	if st := e.state(t, "c1"); st.Status != specs.StateRunning || st.Pid != rec.Init.Pid {
		t.Fatalf("state after start: %+v", st)
	}
	e.fails(t, "not created", "start", "c1")
	e.fails(t, "running", "delete", "c1")
	var pids []int
	if err := json.Unmarshal([]byte(e.must(t, "ps", "--format", "json", "c1")), &pids); err != nil || len(pids) < 1 {
		t.Fatalf("ps --format json: %v %v", pids, err)
	}
	if len(pids) < 2 || !slices.Contains(pids, rec.Init.Pid) {
		t.Errorf("ps lists %v: want the init (%d) and sleep", pids, rec.Init.Pid)
	}
	e.must(t, "kill", "c1", "TERM")
	e.waitStatus(t, "c1", "stopped")
	if st := e.state(t, "c1"); st.Pid != 0 {
		t.Errorf("a stopped container reports pid %d", st.Pid)
	}
	e.fails(t, "stopped", "kill", "c1", "KILL")
	e.must(t, "delete", "c1")
	e.checkGone(t, "c1", rec.Cgroup, rec.Monitor.Pid)
}

// ociInitExits: a container whose command ends on its own is "stopped";
// delete (no --force needed) leaves nothing.
func ociInitExits(t *testing.T) {
	e := newOCIEnv(t)
	bundle := ociBundle(t, nil, "sh", "-c", "exit 3")
	e.must(t, "create", "--bundle", bundle, "x1")
	rec := e.record(t, "x1")
	e.must(t, "start", "x1")
	e.waitStatus(t, "x1", "stopped")
	e.must(t, "delete", "x1")
	e.checkGone(t, "x1", rec.Cgroup, rec.Monitor.Pid)
}

// ociKillCreated: a created container killed before start is stopped; start
// then refuses. delete of a created container without --force fails and has
// no effect, as the runtime-spec says (runc deletes it); --force deletes it.
func ociKillCreated(t *testing.T) {
	e := newOCIEnv(t)
	bundle := ociBundle(t, nil, "true")
	e.must(t, "create", "--bundle", bundle, "k1")
	rec := e.record(t, "k1")
	e.must(t, "kill", "k1", "9")
	e.waitStatus(t, "k1", "stopped")
	e.fails(t, "stopped, not created", "start", "k1")
	e.must(t, "delete", "k1")
	e.checkGone(t, "k1", rec.Cgroup, rec.Monitor.Pid)

	e.must(t, "create", "--bundle", bundle, "k2")
	rec = e.record(t, "k2")
	e.fails(t, "created, not stopped", "delete", "k2")
	if st := e.state(t, "k2"); st.Status != "created" || st.Pid != rec.Init.Pid {
		t.Errorf("after a refused delete: state %+v, want the created container unchanged (init %d)", st, rec.Init.Pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", rec.Init.Pid)); err != nil {
		t.Errorf("after a refused delete: the created container's init (pid %d) is gone: %v", rec.Init.Pid, err)
	}
	e.must(t, "start", "k2")
	e.waitStatus(t, "k2", "stopped")
	e.must(t, "delete", "k2")
	e.checkGone(t, "k2", rec.Cgroup, rec.Monitor.Pid)

	e.must(t, "create", "--bundle", bundle, "k3")
	rec = e.record(t, "k3")
	e.must(t, "delete", "--force", "k3")
	e.checkGone(t, "k3", rec.Cgroup, rec.Monitor.Pid)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", rec.Init.Pid)); err == nil {
		t.Errorf("the created container's init (pid %d) outlived delete", rec.Init.Pid)
	}
}

// ociKillAll: kill --all reaches every process of the container, each
// directly (a plain kill reaches the init only, which passes the signal on
// to the command alone), and nothing outside it: a host process started
// beside it with the same command line survives. (That a listed pid taken
// by another process before the signal is never signalled is
// internal/pidsig's TestListedSkipsWhatLeftTheListing.)
func ociKillAll(t *testing.T) {
	e := newOCIEnv(t)
	host := exec.Command("sleep", "1000")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		host.Process.Kill()
		host.Wait()
	}()
	bundle := ociBundle(t, nil, "sh", "-c", `trap 'echo usr1' USR1; sleep 1000 & sleep 1000 & echo started; while :; do sleep 1; done`)
	r, out := e.ociOut(t, "create", "--bundle", bundle, "ka")
	if r.code != 0 {
		t.Fatalf("create: exit %d stderr %q", r.code, r.err)
	}
	rec := e.record(t, "ka")
	defer func() {
		e.must(t, "delete", "--force", "ka")
		e.checkGone(t, "ka", rec.Cgroup, rec.Monitor.Pid)
	}()
	e.must(t, "start", "ka")
	if !waitFor(10*time.Second, func() bool { b, _ := os.ReadFile(out); return strings.HasPrefix(string(b), "started\n") }) {
		t.Fatal("the container did not start its processes")
	}
	isSleeper := func(pid int) bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err == nil && string(b) == "sleep\x001000\x00" && warmAlive(pid)
	}
	var sleepers []int
	waitFor(10*time.Second, func() bool {
		var pids []int
		json.Unmarshal([]byte(e.must(t, "ps", "--format", "json", "ka")), &pids)
		sleepers = slices.DeleteFunc(pids, func(p int) bool { return !isSleeper(p) })
		return len(sleepers) == 2
	})
	if len(sleepers) != 2 || !isSleeper(host.Process.Pid) {
		t.Fatalf("the container's sleeps %v (want 2), the host's %d alive %v", sleepers, host.Process.Pid, isSleeper(host.Process.Pid))
	}
	e.must(t, "kill", "ka", "USR1")
	time.Sleep(300 * time.Millisecond)
	if !isSleeper(sleepers[0]) || !isSleeper(sleepers[1]) {
		t.Fatalf("control: a plain kill reached more than the init (sleeps %v gone)", sleepers)
	}
	e.must(t, "kill", "--all", "ka", "USR1")
	if !waitFor(10*time.Second, func() bool { return !isSleeper(sleepers[0]) && !isSleeper(sleepers[1]) }) {
		t.Errorf("kill --all USR1: the container's sleeps %v still run", sleepers)
	}
	if !isSleeper(host.Process.Pid) {
		t.Errorf("kill --all signalled a host process (pid %d) outside the container", host.Process.Pid)
	}
	if st := e.state(t, "ka"); st.Status != specs.StateRunning {
		t.Errorf("after kill --all USR1 the container is %s; its init passes USR1 on to the trapping shell and stays", st.Status)
	}
}

// ociSerialised: commands on one id follow one another under its lock:
// of two concurrent starts exactly one starts the container; of two
// concurrent creates of one id exactly one succeeds.
func ociSerialised(t *testing.T) {
	e := newOCIEnv(t)
	bundle := ociBundle(t, nil, "sleep", "1000")
	concurrently := func(args ...string) []cliResult {
		res := make([]cliResult, 2)
		var wg sync.WaitGroup
		for i := range res {
			wg.Add(1)
			go func() { defer wg.Done(); res[i] = e.oci(t, args...) }()
		}
		wg.Wait()
		return res
	}
	res := concurrently("create", "--bundle", bundle, "s1")
	if (res[0].code == 0) == (res[1].code == 0) {
		t.Fatalf("two creates of one id: exits %d %d, stderr %q %q; want one 0 and one 125", res[0].code, res[1].code, res[0].err, res[1].err)
	}
	for _, r := range res {
		if r.code != 0 && (r.code != 125 || !strings.Contains(r.err, "exists")) {
			t.Errorf("the losing create: exit %d stderr %q", r.code, r.err)
		}
	}
	rec := e.record(t, "s1")
	res = concurrently("start", "s1")
	if (res[0].code == 0) == (res[1].code == 0) {
		t.Fatalf("two starts: exits %d %d, stderr %q %q; want exactly one 0", res[0].code, res[1].code, res[0].err, res[1].err)
	}
	for _, r := range res {
		if r.code != 0 && (r.code != 125 || !strings.Contains(r.err, "running, not created")) {
			t.Errorf("the losing start: exit %d stderr %q", r.code, r.err)
		}
	}
	res = concurrently("delete", "--force", "s1")
	for _, r := range res {
		if r.code != 0 {
			t.Errorf("delete --force (twice at once): exit %d stderr %q", r.code, r.err)
		}
	}
	e.checkGone(t, "s1", rec.Cgroup, rec.Monitor.Pid)
}

// ociErrors: what the runtime refuses exits 125 with a message naming the
// step, and leaves nothing behind.
func ociErrors(t *testing.T) {
	e := newOCIEnv(t)
	bundle := ociBundle(t, nil, "true")
	e.fails(t, "invalid container id", "create", "--bundle", bundle, "../x")
	e.fails(t, "invalid container id", "state", "a/b")
	e.fails(t, "does not exist", "state", "nope")
	e.fails(t, "does not exist", "kill", "nope")
	e.fails(t, "does not exist", "delete", "nope")
	e.must(t, "delete", "--force", "nope")
	e.fails(t, "bundle", "create", "--bundle", filepath.Join(bundle, "missing"), "b1")
	e.fails(t, "unknown signal", "kill", "nope", "SIGNOPE")
	e.fails(t, "--systemd-cgroup", "--systemd-cgroup", "state", "nope")
	e.fails(t, "not supported", "pause", "nope")
	bad := ociBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/no/such/command"} })
	e.fails(t, "/no/such/command", "create", "--bundle", bad, "b2")
	tty := ociBundle(t, func(s *specs.Spec) { s.Process.Terminal = true }, "true")
	e.fails(t, "process.terminal", "create", "--bundle", tty, "b3")
	e.must(t, "create", "--bundle", bundle, "dup")
	rec := e.record(t, "dup")
	e.fails(t, "exists", "create", "--bundle", bundle, "dup")
	e.must(t, "delete", "--force", "dup")
	e.checkGone(t, "dup", rec.Cgroup, rec.Monitor.Pid)
}

// ociHooks: createRuntime and prestart run before create returns with the
// state ("creating", the init's pid) on stdin, poststart after start
// ("running"), poststop in delete ("stopped"); createContainer is refused.
func ociHooks(t *testing.T) {
	e := newOCIEnv(t)
	dir := sharedDir(t)
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(dir, name)}}
	}
	bundle := ociBundle(t, nil, "sleep", "1000")
	setHooks(t, bundle, &ociruntime.Hooks{Prestart: []specs.Hook{hook("prestart")}, CreateRuntime: []specs.Hook{hook("createRuntime")},
		Poststart: []specs.Hook{hook("poststart")}, Poststop: []specs.Hook{hook("poststop")}})
	read := func(name string) specs.State {
		var st specs.State
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || json.Unmarshal(b, &st) != nil {
			t.Fatalf("hook %s: %v %q", name, err, b)
		}
		return st
	}
	e.must(t, "create", "--bundle", bundle, "h1")
	init := e.state(t, "h1").Pid
	for _, n := range []string{"prestart", "createRuntime"} {
		if st := read(n); st.Status != "creating" || st.Pid != init || st.ID != "h1" || st.Bundle != bundle {
			t.Errorf("%s hook got %+v", n, st)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "poststart")); err == nil {
		t.Errorf("poststart ran before start")
	}
	e.must(t, "start", "h1")
	if st := read("poststart"); st.Status != "running" || st.Pid != init {
		t.Errorf("poststart hook got %+v", st)
	}
	e.must(t, "delete", "--force", "h1")
	if st := read("poststop"); st.Status != "stopped" || st.ID != "h1" {
		t.Errorf("poststop hook got %+v", st)
	}

	failing := ociBundle(t, nil, "true")
	setHooks(t, failing, &ociruntime.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo no network; exit 1"}}}})
	e.fails(t, "hooks.createRuntime[0]: /bin/sh: exit status 1: no network", "create", "--bundle", failing, "h2")
	refused := ociBundle(t, nil, "true")
	setHooks(t, refused, &ociruntime.Hooks{CreateContainer: []specs.Hook{hook("x")}})
	e.fails(t, "hooks.createContainer", "create", "--bundle", refused, "h3")
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("refused creates left %v in the state directory", ents)
	}
}

// ociCreateKilled: a create killed before the container was created (here
// in a slow createRuntime hook) leaves an id that state reports as
// "creating" while its monitor lives, then "stopped" (the monitor cannot
// report and ends the container); delete leaves nothing.
func ociCreateKilled(t *testing.T) {
	e := newOCIEnv(t)
	dir := sharedDir(t)
	bundle := ociBundle(t, nil, "sleep", "1000")
	setHooks(t, bundle, &ociruntime.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh",
		Args: []string{"sh", "-c", "touch " + filepath.Join(dir, "in-hook") + "; sleep 2"}}}})
	cmd := exec.Command(e.bin, "--root", e.root, "create", "--bundle", bundle, "ck")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "in-hook")); return err == nil }) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the createRuntime hook did not run")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if st := e.state(t, "ck"); st.Status != "creating" {
		t.Errorf("state after create was killed in the hook: %q, want creating", st.Status)
	}
	rec := e.record(t, "ck")
	e.waitStatus(t, "ck", "stopped")
	e.must(t, "delete", "ck")
	e.checkGone(t, "ck", rec.Cgroup, rec.Monitor.Pid)
}

// setHooks writes hooks into the bundle's config.json (by their JSON
// names: the runtime-spec's Go field of prestart is deprecated).
func setHooks(t *testing.T, bundle string, h *ociruntime.Hooks) {
	t.Helper()
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c["hooks"] = h
	if b, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ociRunVerb: `run ID` is create+start+wait+delete with the container's
// exit status; sandboxrun's own `run --bundle DIR` form is unchanged.
func ociRunVerb(t *testing.T) {
	e := newOCIEnv(t)
	bundle := ociBundle(t, nil, "sh", "-c", "echo ran; exit 7")
	r := e.oci(t, "run", "--bundle", bundle, "r1")
	if r.code != 7 || r.out != "ran\n" {
		t.Errorf("run: exit %d stdout %q stderr %q; want 7 and \"ran\\n\"", r.code, r.out, r.err)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("run left %v in the state directory", ents)
	}
	// `run --bundle DIR -- CMD` and `run --bundle DIR` stay sandboxrun's own.
	r2 := sbx(t, "", "run", "--bundle", bundle, "--", "sh", "-c", "echo own; exit 4")
	if r2.code != 4 || r2.out != "own\n" {
		t.Errorf("sandboxrun run --bundle -- CMD: exit %d stdout %q stderr %q", r2.code, r2.out, r2.err)
	}
}

// ociListFeatures: list shows the containers with their status (table and
// JSON); features is the runtime-spec's document.
func ociListFeatures(t *testing.T) {
	e := newOCIEnv(t)
	bundle := ociBundle(t, nil, "sleep", "1000")
	e.must(t, "create", "--bundle", bundle, "l1")
	e.must(t, "create", "--bundle", bundle, "l2")
	e.must(t, "start", "l2")
	var list []struct{ ID, Status string }
	if err := json.Unmarshal([]byte(e.must(t, "list", "--format", "json")), &list); err != nil || len(list) != 2 ||
		list[0].ID != "l1" || list[0].Status != "created" || list[1].ID != "l2" || list[1].Status != "running" {
		t.Errorf("list --format json: %+v %v", list, err)
	}
	if out := e.must(t, "list"); !strings.Contains(out, "l1") || !strings.Contains(out, "running") {
		t.Errorf("list: %q", out)
	}
	e.must(t, "delete", "--force", "l1")
	e.must(t, "delete", "--force", "l2")
	var f struct {
		OCIVersionMin, OCIVersionMax string
		Hooks                        []string
	}
	if err := json.Unmarshal([]byte(e.must(t, "features")), &f); err != nil || f.OCIVersionMax != specs.Version || len(f.Hooks) == 0 {
		t.Errorf("features: %+v %v", f, err)
	}
}
