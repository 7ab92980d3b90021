package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
)

const hostRootChildEnv = "NSFORK_TEST_HOSTROOT_CHILD"

// TestHostRootIDsKernel asks the kernel: in the initial user namespace
// host root is 0:0; root of a new user namespace that this test makes
// (its own ids mapped to 0) sees host root as 0:0 when the test runs as
// host root (the hole `unshare -r` opens, and Default refuses with
// ErrHostRoot) and not at all when it runs as any other user (uid 65534:
// the overflow id, and Default is valid).
func TestHostRootIDsKernel(t *testing.T) {
	if os.Getenv(hostRootChildEnv) == "1" {
		r := HostRootIDs()
		err := Default().Validate()
		fmt.Printf("ids=%s default-refused=%v\n", rootIDsString(r), errors.Is(err, ErrHostRoot))
		// The owner both ways (the /proc reading is older kernels' only).
		pidfd, pok := ownUserNS()
		proc, fok := procUserNS()
		fmt.Printf("owner pidfd=%v:%d:%d proc=%v:%d:%d\n", pok, pidfd.Uid, pidfd.Gid, fok, proc.Uid, proc.Gid)
		return
	}
	r := HostRootIDs()
	if got := rootIDsString(r); got != "0:0" {
		t.Fatalf("HostRootIDs() in the initial user namespace = %s (from %s), want 0:0", got, r.From)
	}
	if _, ok := ownUserNS(); ok && r.From != "PIDFD_GET_USER_NAMESPACE" {
		t.Errorf("HostRootIDs() from %q, want the pidfd ioctl", r.From)
	}
	want := "ids=-:- default-refused=false\n"
	if os.Geteuid() == 0 && os.Getegid() == 0 {
		want = "ids=0:0 default-refused=true\n"
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &st); err != nil || st.Uid != 0 {
		t.Fatalf("stat /proc/self/ns/user: uid %d, %v: the initial namespace's file is host root's", st.Uid, err)
	}
	out := testreq.RunAsNSRoot(t, "TestHostRootIDsKernel", hostRootChildEnv, 0)
	if !bytes.Contains(out, []byte(want)) {
		t.Fatalf("child, root of a new user namespace mapping euid %d: %q, want %q", os.Geteuid(), out, want)
	}
	// Host root's own ids, or the overflow ids where unmapped, both ways.
	owner := fmt.Sprintf("%d:%d", overflowID("overflowuid"), overflowID("overflowgid"))
	if os.Geteuid() == 0 && os.Getegid() == 0 {
		owner = "0:0"
	}
	_, pidfdOK := ownUserNS()
	if w := fmt.Sprintf("owner pidfd=%v:%s proc=true:%s\n", pidfdOK, owner, owner); pidfdOK && !bytes.Contains(out, []byte(w)) {
		t.Errorf("child: %q, want %q", out, w)
	}
}

func rootIDsString(r RootIDs) string {
	s := func(p *uint32) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	return s(r.UID) + ":" + s(r.GID)
}
