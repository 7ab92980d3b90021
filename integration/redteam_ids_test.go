package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	fork.RegisterFunc("rt.touch", func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
}

// TestRedteamUserOverflowID: a sandbox asked to run as uid and gid 65534
// of its namespace (the kernel's overflow id) runs as the host ids its
// maps give them, never as the ids it started with. Rootless, maps that
// leave the caller's own ids out go through newuidmap after the exec: the
// child comes to the ids step with its host ids unmapped, which its
// namespace shows as the overflow id, 65534; the step took "already
// 65534" for done and left the sandbox the caller's own host uid and gid
// (the file it made was the caller's). As root the maps come after the
// exec too (fork/mapsafter_linux.go). The file the sandbox makes, with no
// mount namespace so that it lands where the test sees it, must belong to
// the host ids that 65534 maps to.
func TestRedteamUserOverflowID(t *testing.T) {
	var base uint32 = 200000
	if !root() {
		ranges, _ := sandbox.LookupSubIDs("nobody", os.Geteuid(), sandbox.SubUIDFile)
		granges, _ := sandbox.LookupSubIDs("nobody", os.Geteuid(), sandbox.SubGIDFile)
		_, err := exec.LookPath("newuidmap")
		ok := err == nil && len(ranges) > 0 && len(granges) > 0 && ranges[0].Start == granges[0].Start &&
			ranges[0].Size >= 65536 && granges[0].Size >= 65536
		require(t, ok, "needs newuidmap (Debian uidmap) and one /etc/subuid and /etc/subgid range of 65536 ids from the same start for this user")
		base = ranges[0].Start
	}
	opts := sandbox.Default()
	if !root() {
		opts = sandbox.Rootless()
	}
	// No mount namespace: the file lands on the host's file system. No pid
	// namespace either: without a new /proc of its own, a cgo build's
	// per-thread calls (libpsx) are refused in one.
	opts.WithoutNamespaces(specs.MountNamespace, specs.PIDNamespace)
	opts.Root, opts.Mounts, opts.MaskedPaths, opts.ReadonlyPaths = nil, nil, nil, nil
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
	opts.UIDMappings, opts.GIDMappings = m, m
	opts.User = specs.User{UID: 65534, GID: 65534}
	dir := tempDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "made")
	p, err := new(fork.Config).Start(context.Background(), "rt.touch", opts, path)
	if err == nil {
		err = p.Wait()
	}
	if err != nil {
		t.Fatalf("sandbox as 65534:65534 under maps 0 -> %d: %v", base, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d:%d", base+65534, base+65534)
	if got := fmt.Sprintf("%d:%d", st.Uid, st.Gid); got != want {
		t.Errorf("the sandbox's file belongs to host %s, want %s (uid and gid 65534 of its namespace); caller %d:%d", got, want, os.Geteuid(), os.Getegid())
	}
}
