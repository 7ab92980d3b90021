package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/int80"
	"github.com/nsfork/nsfork/internal/testreq"
)

func init() {
	childModes["errno"] = childErrno
	childModes["kill"] = childKill
	childModes["int80probe"] = childInt80Probe
	childModes["nonnp"] = childNoNNP
}

// getppid numbers of the three x86-64 ABIs.
const (
	getppidAMD64 = 110
	getppidI386  = 64
)

func liveProfile(action specs.LinuxSeccompAction) *specs.LinuxSeccomp {
	eacces := uint(unix.EACCES)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getppid"}, Action: action, ErrnoRet: &eacces},
			{Names: []string{"umask"}, Action: specs.ActErrno, ErrnoRet: &eacces,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0o777}}},
		},
	}
	if runtime.GOARCH == "amd64" {
		p.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	}
	return p
}

// childInt80Probe prints "i386=on", or "i386=off" and the kernel's
// answer; any other outcome is an error.
func childInt80Probe() error {
	err := int80.Probe()
	switch {
	case err == nil:
		fmt.Println("i386=on")
	case errors.Is(err, int80.ErrOff):
		fmt.Printf("i386=off %v\n", err)
	default:
		return err
	}
	return nil
}

// threadStatus returns the given fields of every thread's status.
func threadStatus(fields ...string) (map[string][]string, error) {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, f := range fields {
				if v, ok := strings.CutPrefix(line, f+":"); ok {
					out[f] = append(out[f], strings.TrimSpace(v))
				}
			}
		}
	}
	return out, nil
}

func childErrno() error {
	// no_new_privs is per thread, and Load checks the thread it runs on:
	// both on this one.
	runtime.LockOSThread()
	// 32 threads blocked in read(2) before the filter goes in.
	const n = 32
	started := make(chan struct{})
	var pipes [][2]int
	for i := 0; i < n; i++ {
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			return err
		}
		pipes = append(pipes, p)
		go func(fd int) {
			runtime.LockOSThread()
			started <- struct{}{}
			var b [1]byte
			unix.Read(fd, b[:])
		}(p[0])
	}
	for i := 0; i < n; i++ {
		<-started
	}
	before, err := threadStatus("Seccomp")
	if err != nil {
		return err
	}
	if len(before["Seccomp"]) < n {
		return fmt.Errorf("only %d threads", len(before["Seccomp"]))
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	prog, err := Compile(liveProfile(specs.ActErrno), runtime.GOARCH)
	if err != nil {
		return err
	}
	if err := Load(prog); err != nil {
		return err
	}
	// Denied: getppid fails with EACCES on every ABI.
	if _, _, e := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); e != unix.EACCES {
		return fmt.Errorf("getppid: errno %v, want EACCES", e)
	}
	if runtime.GOARCH == "amd64" {
		if os.Getenv("NSFORK_INT80") == "1" {
			if r := int80.Syscall(getppidI386, 0, 0, 0); r != -int32(unix.EACCES) {
				return fmt.Errorf("int $0x80 getppid = %d, want -EACCES", r)
			}
		}
		if _, _, e := unix.RawSyscall(x32SyscallBit|getppidAMD64, 0, 0, 0); e != unix.EACCES {
			return fmt.Errorf("x32 getppid: errno %v, want EACCES", e)
		}
	}
	// Conditional: umask(0777) denied, umask(022) allowed.
	if _, _, e := unix.RawSyscall(unix.SYS_UMASK, 0o777, 0, 0); e != unix.EACCES {
		return fmt.Errorf("umask(0777): errno %v, want EACCES", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_UMASK, 0o22, 0, 0); e != 0 {
		return fmt.Errorf("umask(022): %v", e)
	}
	if os.Getpid() <= 0 {
		return fmt.Errorf("getpid failed")
	}
	// Every thread: filter mode, one filter, no_new_privs.
	st, err := threadStatus("Seccomp", "Seccomp_filters", "NoNewPrivs")
	if err != nil {
		return err
	}
	if len(st["Seccomp"]) < n+1 {
		return fmt.Errorf("%d threads, want > %d", len(st["Seccomp"]), n)
	}
	for f, want := range map[string]string{"Seccomp": "2", "Seccomp_filters": "1", "NoNewPrivs": "1"} {
		for i, v := range st[f] {
			if v != want {
				return fmt.Errorf("thread %d: %s: %s, want %s (all: %v)", i, f, v, want, st[f])
			}
		}
	}
	fmt.Printf("threads=%d\n", len(st["Seccomp"]))
	for _, p := range pipes {
		unix.Write(p[1], []byte{0})
	}
	return nil
}

func childKill() error {
	runtime.LockOSThread() // as in childErrno
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := Install(liveProfile(specs.ActKillProcess)); err != nil {
		return err
	}
	unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	return errors.New("still alive after a KILL_PROCESS syscall")
}

func childNoNNP() error {
	runtime.LockOSThread() // Load checks the thread it runs on: this one
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return err
	}
	prog, err := Compile(liveProfile(specs.ActErrno), runtime.GOARCH)
	if err != nil {
		return err
	}
	err = Load(prog)
	if !errors.Is(err, ErrNoNewPrivs) {
		return fmt.Errorf("Load without no_new_privs and CAP_SYS_ADMIN: %v, want ErrNoNewPrivs", err)
	}
	fmt.Println(err)
	return nil
}

func runChild(t *testing.T, mode string, env ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func needSeccomp(t *testing.T) {
	t.Helper()
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		need(t, "seccomp in this kernel: %v", err)
	}
}

func TestLiveErrno(t *testing.T) {
	needSeccomp(t)
	var env []string
	if runtime.GOARCH == "amd64" {
		// Asked in a child: the probe faults where the kernel has no
		// i386 ABI.
		out, err := runChild(t, "int80probe")
		out = strings.TrimSpace(out)
		switch {
		case err != nil:
			t.Fatalf("int $0x80 probe: %v\n%s", err, out)
		case out == "i386=on":
			env = append(env, "NSFORK_INT80=1")
			t.Log("int $0x80 works: the i386 ABI is tried live too")
		case strings.HasPrefix(out, "i386=off "):
			testreq.KernelLacks(t, "the i386 system call ABI (IA-32 emulation)", strings.TrimPrefix(out, "i386=off "),
				"TestLiveProfileI386OnVM (this filter's i386 branch on golang.org/x/net/bpf's VM) and TestDifferentialLibseccomp (i386 inputs against libseccomp)")
		default:
			t.Fatalf("int $0x80 probe said %q", out)
		}
	}
	out, err := runChild(t, "errno", env...)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(out, "threads=") {
		t.Fatalf("child said %q", out)
	}
	t.Logf("child: %s", strings.TrimSpace(out))
}

func TestLiveKill(t *testing.T) {
	needSeccomp(t)
	out, err := runChild(t, "kill")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want death by SIGSYS\n%s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child: %v (%v), want death by SIGSYS\n%s", err, ws, out)
	}
}

func TestLiveNoNewPrivsRequired(t *testing.T) {
	needSeccomp(t)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	out, err := runChild(t, "nonnp")
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(out, "no_new_privs") {
		t.Fatalf("error does not say what is missing: %q", out)
	}
}
