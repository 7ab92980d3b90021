package fork_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsfork/nsfork/fork"
)

type point struct{ X, Y int }
type otherPoint struct{ X, Y int }

type shape interface{ Area() int }
type rect struct{ W, H int }

func (r rect) Area() int { return r.W * r.H }

func init() {
	gob.Register(rect{})
	fork.RegisterFunc("noop", func() {})
	fork.RegisterFunc("add", func(a, b int) int { return a + b })
	fork.RegisterFunc("sum", func(xs ...int) int {
		t := 0
		for _, x := range xs {
			t += x
		}
		return t
	})
	fork.RegisterFunc("prefixSum", func(p string, xs ...int) string { return fmt.Sprint(p, len(xs)) })
	fork.RegisterFunc("point", func(p point) point { return point{p.Y, p.X} })
	fork.RegisterFunc("ptr", func(p *point) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	})
	fork.RegisterFunc("area", func(s shape) int { return s.Area() })
	fork.RegisterFunc("mapLen", func(m map[string]int) int { return len(m) })
	fork.RegisterFunc("enoent", func() error {
		_, err := os.Open("/nonexistent/nsfork")
		return err
	})
	fork.RegisterFunc("fail", func(msg string) (int, error) { return 0, errors.New(msg) })
	fork.RegisterFunc("boom", func() { panic("kaboom") })
	fork.RegisterFunc("exit", func(code int) { os.Exit(code) })
	fork.RegisterFunc("digest", func(b []byte) ([32]byte, int) { return sha256.Sum256(b), len(b) })
	fork.RegisterFunc("echoBytes", func(b []byte) []byte { return b })
	fork.RegisterFunc("strLen", func(s string) int { return len(s) })
	fork.RegisterFunc("readFile", func(f *os.File) (string, error) {
		b, err := io.ReadAll(f)
		return string(b), err
	})
	fork.RegisterFunc("sleep", func(d time.Duration) { time.Sleep(d) })
	fork.RegisterFunc("print", func(s string) { fmt.Print(s) })
	fork.RegisterFunc("env", func(k string) string { return os.Getenv(k) })
	fork.RegisterFunc("fds", func() []string { return listFDs() })
	fork.RegisterFunc("nothing", func() (int, error) { return 42, nil })
	fork.RegisterFunc("stopSelf", func() { syscall.Kill(os.Getpid(), syscall.SIGSTOP); time.Sleep(time.Hour) })
	fork.Init()
}

func listFDs() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"->"+l)
	}
	return out
}

func run(t *testing.T, name string, args ...any) ([]any, error) {
	t.Helper()
	p, err := new(fork.Config).Start(context.Background(), name, nil, args...)
	if err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	err = p.Wait()
	return p.Results(), err
}

func TestResults(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []any
		want []any
	}{
		{"add", []any{2, 40}, []any{42}},
		{"sum", nil, []any{0}},
		{"sum", []any{1, 2, 3}, []any{6}},
		{"prefixSum", []any{"n=", 1, 2}, []any{"n=2"}},
		{"point", []any{point{1, 2}}, []any{point{2, 1}}},
		{"ptr", []any{&point{3, 4}}, []any{"{3 4}"}},
		{"ptr", []any{nil}, []any{"nil"}},
		{"area", []any{rect{3, 5}}, []any{15}},
		{"mapLen", []any{nil}, []any{0}},
		{"mapLen", []any{map[string]int{"a": 1}}, []any{1}},
		{"nothing", nil, []any{42}},
		{"echoBytes", []any{[]byte("hi")}, []any{[]byte("hi")}},
		{"strLen", []any{strings.Repeat("x", 100000)}, []any{100000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(t, tc.name, tc.args...)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("results %v, want %v", got, tc.want)
			}
			for i := range got {
				if fmt.Sprintf("%T", got[i]) != fmt.Sprintf("%T", tc.want[i]) {
					t.Fatalf("result %d has type %T, want %T", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestArgErrorsInParent(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []any
		msg  string
	}{
		{"add", []any{1}, "1 arguments given, 2 needed"},
		{"add", []any{1, "2"}, "string is not assignable to the parameter type int"},
		{"add", []any{1, int64(2)}, "int64 is not assignable"},
		{"point", []any{otherPoint{1, 2}}, "fork_test.otherPoint is not assignable to the parameter type fork_test.point"},
		{"add", []any{nil, 1}, "nil given for a parameter of type int"},
		{"sum", []any{1, "x"}, "string is not assignable"},
		{"prefixSum", nil, "at least 1 needed"},
		{"mapLen", []any{map[string]int{}, 1}, "2 arguments given, 1 needed"},
	} {
		_, err := new(fork.Config).Start(context.Background(), tc.name, nil, tc.args...)
		if !errors.Is(err, fork.ErrArgs) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Start(%s, %v) = %v, want ErrArgs containing %q", tc.name, tc.args, err, tc.msg)
		}
	}
	if _, err := new(fork.Config).Start(context.Background(), "no-such-function", nil); !errors.Is(err, fork.ErrNotRegistered) {
		t.Errorf("unknown function: %v", err)
	}
	// An interface argument of an unregistered dynamic type: gob refuses in
	// the parent, never in the child.
	type unregistered struct{ shape }
	if _, err := new(fork.Config).Start(context.Background(), "area", nil, unregistered{rect{1, 1}}); !errors.Is(err, fork.ErrArgs) {
		t.Errorf("unregistered interface type: %v", err)
	}
}

func TestRemoteErrors(t *testing.T) {
	_, err := run(t, "enoent")
	var re *fork.RemoteError
	if !errors.As(err, &re) || !errors.Is(err, syscall.ENOENT) || re.Type != "*fs.PathError" {
		t.Fatalf("enoent: %#v", err)
	}
	_, err = run(t, "fail", "it broke")
	if !errors.As(err, &re) || re.Msg != "it broke" {
		t.Fatalf("fail: %v", err)
	}
	_, err = run(t, "boom")
	var pe *fork.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(pe.Stack, "fork_test.init") {
		t.Fatalf("boom: %v (stack %q)", err, pe)
	}
	for _, code := range []int{0, 3, 7, 200} {
		p, err := new(fork.Config).Start(context.Background(), "exit", nil, code)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Wait()
		var ee *fork.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != code {
			t.Fatalf("exit(%d): %v", code, err)
		}
	}
}

func TestSignalAndCancel(t *testing.T) {
	p, err := new(fork.Config).Start(context.Background(), "sleep", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGTERM)
	err = p.Wait()
	var ee *fork.ExitError
	if !errors.As(err, &ee) || ee.Signal() != syscall.SIGTERM {
		t.Fatalf("SIGTERM: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	p, err = new(fork.Config).Start(ctx, "sleep", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	if !errors.As(err, &ee) || ee.Signal() != syscall.SIGKILL || time.Since(start) > 10*time.Second {
		t.Fatalf("cancel: %v after %v", err, time.Since(start))
	}
	if syscall.Kill(p.Pid, 0) != syscall.ESRCH {
		t.Fatalf("child %d still exists after Wait", p.Pid)
	}
}

func TestBigArguments(t *testing.T) {
	for _, n := range []int{0, 1, 64 << 10, 64<<10 + 1, 8 << 20} {
		b := bytes.Repeat([]byte{0xa5, 0x5a, 1}, n/3+1)[:n]
		got, err := run(t, "digest", b)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if got[0].([32]byte) != sha256.Sum256(b) || got[1].(int) != n {
			t.Fatalf("n=%d: digest mismatch", n)
		}
	}
	got, err := run(t, "strLen", strings.Repeat("y", 1<<20))
	if err != nil || got[0].(int) != 1<<20 {
		t.Fatalf("big string: %v %v", got, err)
	}
}

func TestFileArgument(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "arg")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("through a descriptor")
	f.Seek(0, 0)
	defer f.Close()
	got, err := run(t, "readFile", f)
	if err != nil || got[0] != "through a descriptor" {
		t.Fatalf("readFile: %v %v", got, err)
	}
}

// TestNoStrayFDs: descriptors the parent holds without close-on-exec do not
// reach the child; only stdio and the control channel are there.
func TestNoStrayFDs(t *testing.T) {
	var leak [2]int
	if err := syscall.Pipe(leak[:]); err != nil { // no O_CLOEXEC
		t.Fatal(err)
	}
	defer syscall.Close(leak[0])
	defer syscall.Close(leak[1])
	got, err := run(t, "fds")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range got[0].([]string) {
		if strings.Contains(fd, "pipe:") && !strings.HasPrefix(fd, "0->") && !strings.HasPrefix(fd, "1->") && !strings.HasPrefix(fd, "2->") {
			t.Errorf("stray pipe in the child: %s (all: %v)", fd, got[0])
		}
	}
}

func TestMarkerRemoved(t *testing.T) {
	got, err := run(t, "env", "NSFORK_CHILD")
	if err != nil || got[0] != "" {
		t.Fatalf("marker visible to the function: %q %v", got, err)
	}
}

// TestConcurrentForks: one Function, forked many times at once.
func TestConcurrentForks(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := func() ([]any, error) {
				p, err := new(fork.Config).Start(context.Background(), "add", nil, i, 1000)
				if err != nil {
					return nil, err
				}
				return p.Results(), p.Wait()
			}()
			if err != nil {
				errs <- err
				return
			}
			_ = got
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f := fork.NewFork("print", func(s string) { fmt.Print(s) })
	if f == nil {
		t.Fatal("NewFork returned nil for a func")
	}
	if fork.NewFork("x", 42) != nil {
		t.Fatal("NewFork accepted a non-func")
	}
}

func TestRegisterPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   any
	}{
		{"add", func() {}}, // duplicate
		{"", func() {}},    // empty
		{"a b", func() {}}, // space
		{"notfunc", 42},    // not a function
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterFunc(%q, %T) did not panic", tc.name, tc.fn)
				}
			}()
			fork.RegisterFunc(tc.name, tc.fn)
		}()
	}
}

// TestCompatFunctionReuse: a go-fork Function forked several times, its
// output reaching the parent's stdout by default.
func TestCompatFunctionReuse(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	reg := registeredPrint()
	reg.Stdout = w
	defer func() { reg.Stdout = nil }()
	for i := range 3 {
		if err := reg.Fork(fmt.Sprintf("line%d;", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Wait(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out, _ := io.ReadAll(r)
	for i := range 3 {
		if !strings.Contains(string(out), fmt.Sprintf("line%d;", i)) {
			t.Fatalf("output %q lacks line%d", out, i)
		}
	}
	if reg.ProcessState == nil || !reg.ProcessState.Success() {
		t.Fatalf("ProcessState %v", reg.ProcessState)
	}
}

// printFn is registered the go-fork way, through Register(NewFork(...)).
var printFn = func() *fork.Function {
	f := fork.NewFork("printCompat", func(s string) { fmt.Print(s) })
	fork.Register(f)
	return f
}()

func registeredPrint() *fork.Function { return printFn }

var lateOnce sync.Once

// TestUnregisteredInChild: a function registered in the parent only (after
// Init ran) is refused by the child with a clear error.
func TestUnregisteredInChild(t *testing.T) {
	lateOnce.Do(func() { fork.RegisterFunc("lateRegistered", func() {}) })
	p, err := new(fork.Config).Start(context.Background(), "lateRegistered", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	if !errors.Is(err, fork.ErrNotRegistered) || !strings.Contains(err.Error(), "lateRegistered") {
		t.Fatalf("%v", err)
	}
	if p.ProcessState.ExitCode() != 122 {
		t.Fatalf("exit code %d, want 122", p.ProcessState.ExitCode())
	}
}

// buildExample builds one of the example programs into a temp dir.
func buildExample(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	out, err := exec.Command("go", "build", "-o", bin, "../"+dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// TestGoForkReadmeExample: go-fork's README example prints both lines
// (go-fork itself loses the child's).
func TestGoForkReadmeExample(t *testing.T) {
	bin := buildExample(t, "examples/gofork")
	// Many times: the parent exits at once, racing its child's start.
	for range 30 {
		out, err := exec.Command(bin).Output() // waits for the pipe's EOF: the child's output too
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "main() pid:") || !strings.Contains(string(out), "child(1) pid:") {
			t.Fatalf("output %q lacks a line", out)
		}
	}
}

// TestForgottenInit: a program that forks without calling Init gets a
// clear error, not a fork bomb.
func TestForgottenInit(t *testing.T) {
	bin := buildExample(t, "fork/testdata/noinit")
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "parent: fork: child exit status 3") || !strings.Contains(string(out), "fork.Init()") {
		t.Fatalf("output %q", out)
	}
	if strings.Count(string(out), "parent:") != 1 {
		t.Fatalf("more than one generation ran: %q", out)
	}
}

// TestMarkerAbuse: the binary started with a marker but no channel, or with
// a forged one, runs no function.
func TestMarkerAbuse(t *testing.T) {
	for _, marker := range []string{
		"NSFORK_CHILD=1:3:2:00112233445566778899aabbccddeeff",
		"NSFORK_CHILD=garbage",
		"NSFORK_CHILD=1:0:1:00",
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNothing$")
		cmd.Env = append(os.Environ(), marker)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 123 || !strings.Contains(string(out), "refusing to run") {
			t.Errorf("%s: %v %q", marker, err, out)
		}
	}
	// A forged channel: a socket whose peer is us but whose request carries
	// the wrong token.
	fds, _ := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	peer := os.NewFile(uintptr(fds[0]), "peer")
	childEnd := os.NewFile(uintptr(fds[1]), "child")
	defer peer.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNothing$")
	cmd.Env = append(os.Environ(), "NSFORK_CHILD=1:3:1:00112233445566778899aabbccddeeff")
	cmd.ExtraFiles = []*os.File{childEnd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	forged := fork.ForgedRequest("print", bytes.Repeat([]byte{9}, 16))
	peer.Write(forged)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 121 {
		t.Fatalf("forged token: %v", err)
	}
}

func TestNothing(t *testing.T) {}
