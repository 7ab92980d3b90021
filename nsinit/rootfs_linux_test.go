package nsinit

import (
	"encoding/json"
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

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// The tests below start this test binary again in a new mount namespace
// (and a user namespace when not root), where it enters a root file
// system with stepMounts and reports what it sees. The variables are read
// by this test binary only.
const (
	envChild  = "NSINIT_TEST_ROOTFS"      // the root file system to enter
	envMode   = "NSINIT_TEST_ROOTFS_MODE" // "pivot" or "move"
	envMarker = "NSINIT_TEST_MARKER"      // a host file that must vanish
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChild); dir != "" {
		os.Exit(rootfsChild(dir))
	}
	os.Exit(m.Run())
}

type rootfsResult struct {
	Err           string
	Root          string
	MarkerErr     string
	Threads, Same int
}

func rootfsChild(dir string) int {
	runtime.LockOSThread()
	forceMoveChroot = os.Getenv(envMode) == "move"
	o := &sandbox.Options{
		Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}},
		Root:       &specs.Root{Path: dir},
	}
	if os.Geteuid() != 0 || os.Getenv("NSINIT_TEST_USERNS") == "1" {
		o.Namespaces = append(o.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	}
	var want unix.Stat_t
	unix.Stat(dir, &want)
	a := &Applied{}
	var r rootfsResult
	c := &child{o: o, a: a}
	err := stepMounts(c)
	if err == nil {
		err = stepMountsFinish(c)
	}
	c.closeMounter()
	if err != nil {
		r.Err = err.Error()
	}
	r.Root = a.Root
	if _, err := os.Stat(os.Getenv(envMarker)); err != nil {
		r.MarkerErr = err.Error()
	}
	// Every thread, old and new, has the new root.
	const n = 16
	same := make(chan bool, n)
	for range n {
		go func() {
			runtime.LockOSThread()
			var st unix.Stat_t
			unix.Stat("/", &st)
			same <- st.Dev == want.Dev && st.Ino == want.Ino
			select {} // keep the thread busy so the next goroutine gets another
		}()
	}
	for range n {
		r.Threads++
		if <-same {
			r.Same++
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

func runRootfsChild(t *testing.T, mode string) rootfsResult {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, nil, 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+filepath.Join(dir, "rootfs"), envMode+"="+mode, envMarker+"="+marker)
	cmd.Stderr = os.Stderr
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.Env = append(cmd.Env, "NSINIT_TEST_USERNS=1")
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	out, err := cmd.Output()
	if err != nil {
		// Only a verified missing prerequisite is a skip (a failure in
		// strict mode); any other failure of the child is the test's.
		if why := namespacesBlocked(); why != "" {
			testreq.Need(t, false, "%s (the child in new namespaces: %v)", why, err)
		}
		t.Fatalf("child in new namespaces (clone flags %#x): %v", attr.Cloneflags, err)
	}
	var r rootfsResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	return r
}

// namespacesBlocked says why this process may not make the namespaces
// runRootfsChild asks for, read from the kernel's settings, or "".
func namespacesBlocked() string {
	if os.Geteuid() == 0 {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err == nil && data[0].Effective&(1<<unix.CAP_SYS_ADMIN) == 0 {
			return "CAP_SYS_ADMIN for a mount namespace (root without it: a container?)"
		}
		return ""
	}
	for _, s := range []struct{ file, bad, fix string }{
		{"/proc/sys/user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"},
	} {
		if b, err := os.ReadFile(s.file); err == nil && strings.TrimSpace(string(b)) == s.bad {
			return fmt.Sprintf("unprivileged user namespaces (%s is %s: %s)", s.file, s.bad, s.fix)
		}
	}
	return ""
}

func checkRootfs(t *testing.T, r rootfsResult, want string) {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("stepMounts: %s", r.Err)
	}
	if r.Root != want {
		t.Errorf("Applied.Root = %q, want %q", r.Root, want)
	}
	if r.MarkerErr == "" {
		t.Errorf("a host file is reachable after entering the root")
	}
	if r.Same != r.Threads || r.Threads == 0 {
		t.Errorf("%d of %d threads have the new root", r.Same, r.Threads)
	}
}

func TestEnterRootPivot(t *testing.T) {
	checkRootfs(t, runRootfsChild(t, "pivot"), "pivot_root")
}

// TestEnterRootMoveChroot takes the path used where pivot_root fails with
// EINVAL (an initramfs root) by forcing it.
func TestEnterRootMoveChroot(t *testing.T) {
	checkRootfs(t, runRootfsChild(t, "move"), "move+chroot")
}

func TestParseMountOptions(t *testing.T) {
	mo, err := parseMountOptions([]string{"rbind", "ro", "nosuid", "rw", "noexec", "rslave", "size=1m", "mode=755", "strictatime"})
	if err != nil {
		t.Fatal(err)
	}
	if !mo.bind || !mo.recursive {
		t.Errorf("bind %v recursive %v", mo.bind, mo.recursive)
	}
	if mo.set != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC || mo.clr != unix.MOUNT_ATTR_RDONLY {
		t.Errorf("set %#x clr %#x: rw after ro must win", mo.set, mo.clr)
	}
	if mo.msFlags != unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_STRICTATIME {
		t.Errorf("msFlags %#x", mo.msFlags)
	}
	if mo.prop != unix.MS_SLAVE|unix.MS_REC || mo.dataString() != "size=1m,mode=755" || !mo.atimeSet {
		t.Errorf("prop %#x data %q atime %v", mo.prop, mo.dataString(), mo.atimeSet)
	}
	if _, err := parseMountOptions([]string{"remount"}); err == nil {
		t.Errorf("remount accepted")
	}
}
