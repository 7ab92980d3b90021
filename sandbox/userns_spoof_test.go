//go:build linux

package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
)

const usernsSpoofEnv = "NSFORK_TEST_USERNS_SPOOF"

// TestRootInInitialUserNSSpoofedProc: root of a user namespace with a
// mount namespace of its own (anyone, by unshare -Urm) mounts the initial
// user namespace's nsfs file, opened before, on its /proc/PID/ns/user.
// /proc then shows the initial namespace, and before the answer came from
// the kernel (ownUserNS) nsfork took it for host root. The child
// checks that the spoof is in place (the /proc reading says initial), then
// that detectInitialUserNS says no.
func TestRootInInitialUserNSSpoofedProc(t *testing.T) {
	if os.Getenv(usernsSpoofEnv) == "1" {
		spoofChild()
		return
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &st); err != nil || st.Ino != initUserNSIno {
		testreq.Need(t, false, "the test running in the initial user namespace (stat /proc/self/ns/user: ino %d, %v)", st.Ino, err)
	}
	if _, ok := ownUserNS(); !ok {
		testreq.KernelLacks(t, "PIDFD_GET_USER_NAMESPACE (Linux 6.11)", "ioctl on a pidfd of this process failed",
			"TestRootInInitialUserNS (the /proc reading, which a caller with a mount namespace of its own can spoof)")
		return
	}
	initNS, err := os.Open("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	defer initNS.Close()
	out := testreq.RunAsNSRoot(t, "TestRootInInitialUserNSSpoofedProc", usernsSpoofEnv, syscall.CLONE_NEWNS, initNS) // fd 3
	if !bytes.Contains(out, []byte("spoofed=true hostroot=false\n")) {
		t.Fatalf("child, root of a user namespace with the initial namespace's file on /proc/PID/ns/user: %q, want spoofed=true hostroot=false", out)
	}
}

// spoofChild mounts fd 3 (the initial user namespace) on its own
// /proc/PID/ns/user and prints what /proc and detectInitialUserNS say.
func spoofChild() {
	ns := "/proc/" + strconv.Itoa(os.Getpid()) + "/ns"
	for _, step := range []func() error{
		func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") },
		func() error { return unix.Mount("tmpfs", ns, "tmpfs", 0, "") },
		func() error { return os.WriteFile(ns+"/user", nil, 0o644) },
		func() error { return unix.Mount("/proc/self/fd/3", ns+"/user", "", unix.MS_BIND, "") },
	} {
		if err := step(); err != nil {
			fmt.Printf("spoof setup: %v\n", err)
			os.Exit(1)
		}
	}
	fmt.Printf("spoofed=%v hostroot=%v\n", initialUserNS("/proc/self/ns/user", "/proc/self/uid_map"), os.Geteuid() == 0 && detectInitialUserNS())
}
