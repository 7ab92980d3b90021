//go:build linux

package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/testreq"
)

const usernsChildEnv = "NSFORK_TEST_USERNS_CHILD"

// TestRootInInitialUserNS compares the answer with the uid_map of this
// process and of a child that runs this test as root of a new user
// namespace (uid 0 there), which is not host root.
func TestRootInInitialUserNS(t *testing.T) {
	if os.Getenv(usernsChildEnv) == "1" {
		fmt.Printf("euid=%d hostroot=%v\n", os.Geteuid(), RootInInitialUserNS())
		return
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		t.Fatal(err)
	}
	want := os.Geteuid() == 0 && fullIDMap(b)
	if got := RootInInitialUserNS(); got != want {
		t.Fatalf("RootInInitialUserNS() = %v in this process (euid %d, uid_map %q), want %v", got, os.Geteuid(), b, want)
	}
	out := testreq.RunAsNSRoot(t, "TestRootInInitialUserNS", usernsChildEnv, 0)
	if !bytes.Contains(out, []byte("euid=0 hostroot=false\n")) {
		t.Fatalf("child, root of a new user namespace: %q, want euid=0 hostroot=false", out)
	}
}

// TestInitialUserNSFallback: without an nsfs file the uid_map decides, and
// only the whole range onto itself counts.
func TestInitialUserNSFallback(t *testing.T) {
	d := t.TempDir()
	for m, want := range map[string]bool{
		"         0          0 4294967295\n": true,
		"0 1000 1\n":                         false,
		"0 0 1\n":                            false,
		"0 0 4294967295\n5 5 1\n":            false,
	} {
		p := filepath.Join(d, "uid_map")
		if err := os.WriteFile(p, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		// A regular file is no nsfs file: the map decides.
		if got := initialUserNS(p, p); got != want {
			t.Errorf("uid_map %q: got %v, want %v", m, got, want)
		}
	}
	if initialUserNS(filepath.Join(d, "none"), filepath.Join(d, "none")) {
		t.Error("neither file readable: want false (rootless)")
	}
}

// nsRootHost is root of a user namespace mapping host uid 1000 to 0 and a
// range of 65536 above it.
var nsRootHost = func() *host {
	h := testHost(0, 0, map[string]string{
		"/proc/self/uid_map": "0 1000 1\n1 100000 65536\n",
		"/proc/self/gid_map": "0 1000 1\n",
	})
	h.hostRoot = false
	h.rootIDs = RootIDs{} // its map has no host id 0
	return h
}()

func TestNSRootIsRootless(t *testing.T) {
	o := rootless(0, 0, false)
	if err := o.validate(nsRootHost); err != nil {
		t.Fatalf("Rootless as root of a user namespace: %v", err)
	}
	if o.leasesIDRange(nsRootHost) || o.needsIDMapHelper(nsRootHost) {
		t.Error("root of a user namespace must neither lease ids nor need newuidmap")
	}
	u, g := (&Options{Namespaces: ns(specs.UserNamespace)}).effectiveIDMappings(nsRootHost)
	if !ownIDOnly(u, 0) || !ownIDOnly(g, 0) {
		t.Errorf("default maps: %v %v, want its own 0 only", u, g)
	}
	// More ids, when asked, as far as its namespace maps them.
	o.UIDMappings = idmap(0, 0, 65537)
	if err := o.validate(nsRootHost); err != nil {
		t.Errorf("a map of ids its namespace has: %v", err)
	}
	if o.needsIDMapHelper(nsRootHost) {
		t.Error("root of a user namespace writes its maps itself")
	}
	o.UIDMappings = idmap(0, 70000, 1)
	if err := o.validate(nsRootHost); err == nil || !strings.Contains(err.Error(), "not mapped in the caller's own user namespace") {
		t.Errorf("a map of ids its namespace lacks: %v", err)
	}
	o.UIDMappings = idmap(0, 0, 1)
	o.User.AdditionalGids = []uint32{0}
	if err := o.validate(nsRootHost); err == nil || !strings.Contains(err.Error(), "setgroups") {
		t.Errorf("additional gids (setgroups denied): %v", err)
	}
	if m := mpiPreset(0, 0, false, "job"); m.IDRangeKey != "" || !ownIDOnly(m.UIDMappings, 0) {
		t.Errorf("MPI as root of a user namespace: key %q maps %v, want its own id", m.IDRangeKey, m.UIDMappings)
	}
}
