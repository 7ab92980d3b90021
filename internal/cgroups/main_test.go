//go:build linux

package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
)

const childEnv = "NSFORK_CGTEST_MODE"

// TestMain doubles as the child processes the tests start: with
// NSFORK_CGTEST_MODE set, the test binary runs one child role and exits.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

// need skips the test for reason, or fails it when NSFORK_REQUIRE_ALL=1
// (CI), where a missing prerequisite is a broken test machine.
func need(t testing.TB, ok bool, reason string, args ...any) {
	t.Helper()
	testreq.Need(t, ok, reason, args...)
}

// waitGo blocks until the parent writes to fd 3 (after it placed us).
func waitGo() {
	f := os.NewFile(3, "go")
	var b [1]byte
	_, _ = f.Read(b[:])
	f.Close()
}

func runChild(mode string) int {
	switch mode {
	case "alloc":
		waitGo()
		buf := make([]byte, 128<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		fmt.Println("survived", len(buf))
		return 0
	case "spin":
		waitGo()
		for i := 0; i < 2; i++ {
			go func() {
				//lint:ignore SA5002 spinning is the point: CPU quota is measured on it
				for {
				}
			}()
		}
		time.Sleep(time.Hour)
		return 0
	case "stale":
		c, err := New(Config{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = json.NewEncoder(os.Stdout).Encode(c.Paths())
		return 0 // exits without Destroy, like a killed parent
	case "hold", "busy":
		// hold: a live launcher whose cgroup is still empty; busy: a
		// launcher that exits leaving a process in its cgroup (KeepAlive).
		c, err := New(Config{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if mode == "busy" {
			sleeper := exec.Command("sleep", "60")
			if err := sleeper.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if err := c.Add(sleeper.Process.Pid); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		_ = json.NewEncoder(os.Stdout).Encode(c.Paths())
		if mode == "hold" {
			os.Stdout.Close()
			time.Sleep(time.Hour)
		}
		return 0
	case "opendev":
		// Opens device nodes once placed in the cgroup; prints one line
		// each: "OPEN <path> <r|w|rw> <ok|errno name>".
		waitGo()
		for _, o := range devOpens {
			fd, err := unix.Open(o.path, o.flags|unix.O_CLOEXEC, 0)
			res := "ok"
			if err != nil {
				res = unix.ErrnoName(err.(unix.Errno))
			} else {
				unix.Close(fd)
			}
			fmt.Printf("OPEN %s %s %s\n", o.path, o.mode, res)
		}
		return 0
	case "rootless":
		res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](32 << 20)}}
		_, err := New(Config{Resources: res})
		fmt.Printf("ERR=%v\nNODELEG=%v\nEACCES=%v\n", err, errors.Is(err, ErrNoDelegation), errors.Is(err, unix.EACCES))
		c, err := New(Config{Resources: res, BestEffort: true})
		if err == nil {
			fmt.Printf("BE=ok skipped=%d\n", len(c.Skipped()))
			_ = c.Destroy()
		} else {
			fmt.Printf("BE=%v\n", err)
		}
		rep := Probe()
		fmt.Printf("PROBE delegated=%v rootless=%v reason=%s\n", rep.Delegated, rep.Rootless, rep.Reason)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

func ptr[T any](v T) *T { return &v }

// devOpens are the opens of the "opendev" child.
var devOpens = []struct {
	path, mode string
	flags      int
}{
	{"/dev/null", "rw", unix.O_RDWR},
	{"/dev/zero", "r", unix.O_RDONLY},
	{"/dev/zero", "w", unix.O_WRONLY},
	{"/dev/kmsg", "r", unix.O_RDONLY},
}

// devRules deny everything but the defaults, and then writing /dev/zero.
func devRules() *specs.LinuxResources {
	return &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: false, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](5), Access: "w"},
	}}
}

// wantDevOpens are the results of the "opendev" child under devRules.
var wantDevOpens = []string{
	"OPEN /dev/null rw ok",
	"OPEN /dev/zero r ok",
	"OPEN /dev/zero w EPERM",
	"OPEN /dev/kmsg r EPERM",
}

// checkDevOpens runs the "opendev" child in c (through Add) and checks
// what it could open. As root outside the cgroup every open works.
func checkDevOpens(t *testing.T, c *Cgroup) {
	t.Helper()
	for _, o := range devOpens {
		fd, err := unix.Open(o.path, o.flags|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("outside the cgroup, open %s %s: %v", o.path, o.mode, err)
		}
		unix.Close(fd)
	}
	ch := startChild(t, "opendev")
	if err := c.Add(ch.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	ch.release()
	if err := ch.cmd.Wait(); err != nil {
		t.Fatalf("opendev child: %v\n%s", err, ch.out.String())
	}
	var got []string
	for _, l := range strings.Split(ch.out.String(), "\n") {
		if strings.HasPrefix(l, "OPEN ") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(wantDevOpens, "\n") {
		t.Errorf("device opens in the cgroup:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDevOpens, "\n"))
	}
	t.Logf("device opens in the cgroup: %q", got)
}

// child is a re-executed test binary waiting on fd 3.
type child struct {
	cmd *exec.Cmd
	goW *os.File
	out strings.Builder
}

func startChild(t *testing.T, mode string) *child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ch := &child{goW: w}
	ch.cmd = exec.Command(os.Args[0])
	ch.cmd.Env = append(os.Environ(), childEnv+"="+mode)
	ch.cmd.ExtraFiles = []*os.File{r}
	ch.cmd.Stdout = &ch.out
	ch.cmd.Stderr = &ch.out
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() {
		if ch.cmd.ProcessState == nil {
			_ = ch.cmd.Process.Kill()
			_ = ch.cmd.Wait()
		}
		ch.goW.Close()
	})
	return ch
}

func (ch *child) release() { _, _ = ch.goW.Write([]byte{1}); ch.goW.Close() }

// exeForOthers copies the test binary where another uid can run it.
func exeForOthers(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsfork-cgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "cgroups.test")
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}
