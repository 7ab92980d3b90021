package fork_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fork "github.com/nsfork/nsfork/gofork"
	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/internal/wire"
)

type point struct{ X, Y int }

// The functions these tests fork, registered before Init.
var (
	printArgs = fork.NewFork("print", func(s string, n int, p *point, b []byte, m map[string]int, rest ...string) {
		fmt.Printf("%q %d %v %q %v %q\n", s, n, p, b, m, rest)
	})
	result = fork.NewFork("result", func(fail bool) (int, error) {
		if fail {
			return 0, errors.New("failed")
		}
		return 42, nil
	})
	// touchLater writes "ran" into path once the process parent (its
	// parent) is gone: only a child that outlives its parent writes it.
	touchLater = fork.NewFork("touchLater", func(path string, parent int) {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if os.Getppid() != parent {
				os.WriteFile(path, []byte("ran"), 0o644)
				return
			}
		}
	})
	big = fork.NewFork("big", func(b []byte) { fmt.Println(len(b), bytes.Count(b, []byte{7})) })
)

func init() {
	for _, f := range []*fork.Function{printArgs, result, touchLater, big} {
		fork.Register(f)
	}
	fork.Init()
}

// output forks f with args, its stdout a pipe, and returns what it printed
// and Wait's error.
func output(t *testing.T, f *fork.Function, args ...any) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.Stdout = w
	err = f.Fork(args...)
	f.Stdout = nil
	w.Close()
	if err != nil {
		t.Fatalf("Fork(%s): %v", f.Name, err)
	}
	out, _ := io.ReadAll(r)
	return string(out), f.Wait()
}

// TestArgs: arguments of several kinds reach the function as they were
// given, also nil ones and a variadic tail, and one bigger than what is
// queued before the start.
func TestArgs(t *testing.T) {
	out, err := output(t, printArgs, "a b", 7, &point{1, 2}, []byte("raw"), map[string]int{"k": 3}, "x", "y")
	if want := `"a b" 7 &{1 2} "raw" map[k:3] ["x" "y"]` + "\n"; err != nil || out != want {
		t.Errorf("got %q, %v; want %q", out, err, want)
	}
	out, err = output(t, printArgs, "", 0, nil, nil, nil)
	if want := `"" 0 <nil> "" map[] []` + "\n"; err != nil || out != want {
		t.Errorf("got %q, %v; want %q", out, err, want)
	}
	out, err = output(t, big, bytes.Repeat([]byte{7}, 1<<20))
	if want := "1048576 1048576\n"; err != nil || out != want {
		t.Errorf("big: got %q, %v; want %q", out, err, want)
	}
}

// TestArgErrors: arguments that do not fit are refused before a child
// starts.
func TestArgErrors(t *testing.T) {
	for _, args := range [][]any{
		{"s", 1, nil, nil},          // too few
		{"s", "1", nil, nil, nil},   // a string for an int
		{"s", nil, nil, nil, nil},   // nil for an int
		{"s", 1, point{}, nil, nil}, // a point for a *point
	} {
		f := fork.NewFork("print", func(string, int, *point, []byte, map[string]int, ...string) {})
		if err := f.Fork(args...); err == nil || f.Process != nil {
			t.Errorf("Fork(%v) = %v, process %v; want an error and no child", args, err, f.Process)
		}
	}
	if err := fork.Fork("nosuch"); err == nil {
		t.Error("Fork of an unregistered name: no error")
	}
	if fork.NewFork("x", 3) != nil {
		t.Error("NewFork of a non-function is not nil")
	}
}

// TestResults: a function with results succeeds unless its last result is
// a non-nil error, which is exit status 1 as an *exec.ExitError.
func TestResults(t *testing.T) {
	if err := result.Fork(false); err != nil {
		t.Fatal(err)
	}
	if err := result.Wait(); err != nil {
		t.Errorf("(42, nil): Wait = %v", err)
	}
	if err := result.Fork(true); err != nil {
		t.Fatal(err)
	}
	err := result.Wait()
	if xe, ok := err.(*exec.ExitError); !ok || xe.ExitCode() != 1 || result.ProcessState == nil || result.ProcessState.ExitCode() != 1 {
		t.Errorf("(0, error): Wait = %v (%T), want exit status 1 as an *exec.ExitError", err, err)
	}
	// Twice before a Wait: both children are waited for.
	for _, fail := range []bool{true, false} {
		if err := result.Fork(fail); err != nil {
			t.Fatal(err)
		}
	}
	if err := result.Wait(); err == nil || err.Error() != "exit status 1" {
		t.Errorf("two children, one failing: Wait = %v", err)
	}
	if err := result.Wait(); err != nil {
		t.Errorf("nothing to wait for: Wait = %v", err)
	}
}

// TestOutlivesParent: as with go-fork, the child goes on after its parent
// exits (a helper process of this test binary forks and exits at once).
func TestOutlivesParent(t *testing.T) {
	if path := os.Getenv("GOFORK_TEST_TOUCH"); path != "" {
		if err := touchLater.Fork(path, os.Getpid()); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "touched")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutlivesParent$")
	cmd.Env = append(os.Environ(), "GOFORK_TEST_TOUCH="+path)
	// Its output in a file, not a pipe, whose end the child would hold
	// until it ends.
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(log.Name())
		t.Fatalf("helper: %v %s", err, out)
	}
	for range 1500 {
		if b, err := os.ReadFile(path); err == nil && string(b) == "ran" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the child did not outlive its parent")
}

// TestMarkerAbuse: the marker alone, without the parent's channel, or with
// a channel whose request carries another token, runs nothing.
func TestMarkerAbuse(t *testing.T) {
	const token = "00112233445566778899aabbccddeeff"
	for _, marker := range []string{
		"NSFORK_GOFORK_CHILD=1:3:1:" + token, // no fd 3
		"NSFORK_GOFORK_CHILD=garbage",
		"NSFORK_GOFORK_CHILD=1:0:1:00",
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNothing$")
		cmd.Env = append(os.Environ(), marker)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != wire.ExitBadMarker || !strings.Contains(string(out), "refusing to run") {
			t.Errorf("%s: %v %q", marker, err, out)
		}
	}
	// A forged channel: a socket whose peer is us but whose request
	// carries the wrong token.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer, childEnd := os.NewFile(uintptr(fds[0]), "peer"), os.NewFile(uintptr(fds[1]), "child")
	defer peer.Close()
	path := filepath.Join(t.TempDir(), "touched")
	req := &wire.Request{Version: wire.Version, Token: bytes.Repeat([]byte{9}, 16), Name: "touchLater", Args: []wire.Arg{{Kind: wire.ArgRaw, Data: []byte(path)}}}
	if err := wire.WriteFrame(peer, wire.KindRequest, wire.EncodeRequest(req)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNothing$")
	cmd.Env = append(os.Environ(), "NSFORK_GOFORK_CHILD=1:3:1:"+token)
	cmd.ExtraFiles = []*os.File{childEnd}
	out, err := cmd.CombinedOutput()
	childEnd.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != wire.ExitProtocol || !strings.Contains(string(out), "token does not match") {
		t.Errorf("forged request: %v %q", err, out)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := os.Stat(path); err == nil {
		t.Error("the forged request ran its function")
	}
}

func TestNothing(t *testing.T) {}

// TestNoInit: a program that never calls Init gets an error, not a fork
// bomb and not a success, although its child exits 0.
func TestNoInit(t *testing.T) {
	_, err := exec.LookPath("go")
	testreq.Need(t, err == nil, "the go command, to build gofork/testdata/noinit")
	bin := filepath.Join(t.TempDir(), "noinit")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/noinit").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "child-run: gofork: Fork in a child whose program did not call gofork's Init") ||
		!strings.Contains(s, "parent: gofork: the child exited 0 without running child") {
		t.Errorf("noinit printed:\n%s", s)
	}
}

// TestCommOffLeader: a child whose Init runs on a thread other than the
// thread group leader still gets the program's name as its process name
// (through /proc/self/comm), cut to 15 bytes.
func TestCommOffLeader(t *testing.T) {
	_, err := exec.LookPath("go")
	testreq.Need(t, err == nil, "the go command, to build gofork/testdata/commoffleader")
	bin := filepath.Join(t.TempDir(), "commoffleader-gofork")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/commoffleader").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if want := "comm commoffleader-g leader false\n"; err != nil || string(out) != want {
		t.Errorf("got %q, %v; want %q", out, err, want)
	}
}
