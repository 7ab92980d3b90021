package ociruntime

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nsfork/nsfork/sandbox"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"a", "vm.root.12.0.0", "A-b_c+d", "x.."} {
		if err := CheckID(ok); err != nil {
			t.Errorf("CheckID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "a b", "a\x00b"} {
		if err := CheckID(bad); err == nil {
			t.Errorf("CheckID(%q): no error", bad)
		}
	}
	// Every byte against the pattern CheckID used to compile.
	re := regexp.MustCompile(`^[A-Za-z0-9_+.-]+$`)
	for c := 0; c < 256; c++ {
		for _, id := range []string{string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "b"} {
			want := re.MatchString(id) && id != "." && id != ".."
			if got := CheckID(id) == nil; got != want {
				t.Errorf("CheckID(%q) ok = %v, want %v", id, got, want)
			}
		}
	}
	if CheckID(strings.Repeat("a", 1024)) != nil || CheckID(strings.Repeat("a", 1025)) == nil {
		t.Error("CheckID: the length bound is 1024 bytes")
	}
}

// TestLockCreateRemove: an id is created once, locked, and a command that
// waited for the lock of a removed id finds it gone; nothing is left.
func TestLockCreateRemove(t *testing.T) {
	r, err := Open(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	lk, err := r.Create("c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create("c"); !errors.Is(err, ErrExist) {
		t.Errorf("second Create: %v, want ErrExist", err)
	}
	if err := r.Save(&Record{ID: "c", Bundle: "/b"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := r.Lock("c")
		if err == nil {
			l2.Unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Lock returned while the lock was held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := lk.Remove(); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	if err := <-got; !errors.Is(err, ErrNotExist) {
		t.Errorf("Lock after Remove: %v, want ErrNotExist", err)
	}
	if ents, _ := os.ReadDir(r.Dir); len(ents) != 0 {
		t.Errorf("root after Remove: %v", ents)
	}
	if _, err := r.Lock("c"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Lock of a removed id: %v", err)
	}
}

// TestStatus: the status comes from the processes: a live init is created
// or running, a dead or reused pid stopped.
func TestStatus(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: "s", Init: p}
	if st := rec.Status(); st != StatusCreated {
		t.Errorf("live init, not started: %s", st)
	}
	rec.Started = true
	if st := rec.Status(); st != StatusRunning {
		t.Errorf("live init, started: %s", st)
	}
	if s := rec.SpecState(rec.Status()); s.Pid != p.Pid || s.Status != specs.StateRunning || s.Version != specs.Version {
		t.Errorf("SpecState: %+v", s)
	}
	reused := &Record{ID: "s", Init: Proc{Pid: p.Pid, Start: p.Start + 1}, Started: true}
	if st := reused.Status(); st != StatusStopped {
		t.Errorf("a pid with another start time: %s", st)
	}
	cmd.Process.Kill()
	// A zombie is stopped already.
	time.Sleep(50 * time.Millisecond)
	if st := rec.Status(); st != StatusStopped {
		t.Errorf("killed init (zombie): %s", st)
	}
	cmd.Wait()
	if st := rec.Status(); st != StatusStopped {
		t.Errorf("reaped init: %s", st)
	}
	if s := rec.SpecState(StatusStopped); s.Pid != 0 {
		t.Errorf("a stopped container's state has pid %d", s.Pid)
	}
}

// TestHooks: a hook gets the state on stdin and exactly its args and env;
// a failing or slow one is an error naming hooks.KIND[i].
func TestHooks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	st := &specs.State{Version: specs.Version, ID: "h", Status: "creating", Pid: 1}
	ok := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `cat > "$OUT"; echo "$0 $X" >> "$OUT"`}, Env: []string{"OUT=" + out, "X=y"}}
	if err := RunHooks(HookCreateRuntime, []specs.Hook{ok}, st); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != `{"ociVersion":"`+specs.Version+`","id":"h","status":"creating","pid":1,"bundle":""}sh y`+"\n" {
		t.Errorf("the hook saw %q", b)
	}
	one := 1
	slow := specs.Hook{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &one}
	start := time.Now()
	err := RunHooks(HookPoststart, []specs.Hook{ok, slow}, st)
	var e *sandbox.SetupError
	if !errors.As(err, &e) || e.Step != "hooks.poststart[1]" || time.Since(start) > 5*time.Second {
		t.Errorf("a hook past its timeout: %v after %s", err, time.Since(start))
	}
	if err := CheckHooks(&Hooks{StartContainer: []specs.Hook{ok}}); err == nil {
		t.Error("startContainer hooks accepted")
	}
	if err := CheckHooks(&Hooks{Poststop: []specs.Hook{{Path: "rel"}}}); err == nil {
		t.Error("a relative hook path accepted")
	}
}
