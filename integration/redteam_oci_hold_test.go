package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/internal/testreq"
)

// TestRedteamOCICreatedInitNotTraceable: between create and start the
// container's init is the launcher, set up with the container's ids and
// capabilities but not yet its seccomp filter, and holding the channel to
// its monitor. A process exec'd into the created container has the same
// ids, capabilities and pid namespace: it could read /proc/1/environ and
// /proc/1/fd, ptrace the init (and through it run what the seccomp
// profile forbids) or take the channel with pidfd_getfd, since the init
// was dumpable. The launcher of a command is now non-dumpable from the
// end of its setup until the command's exec (fork/child_linux.go).
//
// Root only: a rootless container's processes are the caller's own uid,
// which owns the container's user namespace and may trace them anyway.
func TestRedteamOCICreatedInitNotTraceable(t *testing.T) {
	testreq.RootOnly(t, "processes exec'd into a root caller's created container")
	e := &ociEnv{bin: staticSandboxrunShared(t), root: filepath.Join(tempDir(t), "state")}
	bundle := ociBundle(t, nil, "sleep", "1000")
	e.must(t, "create", "--bundle", bundle, "held")
	defer e.oci(t, "delete", "--force", "held")
	// The exec'd shell's own environ is readable (the check can pass);
	// the held init's must not be.
	r := e.oci(t, "exec", "held", "sh", "-c",
		`cat /proc/1/cmdline; echo; cat /proc/$$/environ >/dev/null && echo own-environ-read; `+
			`cat /proc/1/environ >/dev/null && echo init-environ-read; readlink /proc/1/fd/3 && echo init-fd-read; exit 0`)
	if r.code != 0 || !strings.Contains(r.out, "own-environ-read") || !strings.Contains(r.out, "sandboxrun") {
		t.Fatalf("exec into the created container: exit %d, out %q, err %q", r.code, r.out, r.err)
	}
	for _, leak := range []string{"init-environ-read", "init-fd-read"} {
		if strings.Contains(r.out, leak) {
			t.Errorf("a process exec'd into the created container reached its held init (%s): %q", leak, r.out)
		}
	}
	e.must(t, "start", "held")
	e.waitStatus(t, "held", "running")
}

// TestRedteamOCIFailedCreateLeavesNoCgroup: a create whose createRuntime
// hook fails leaves no cgroup. The monitor, having reported the failure,
// ends the container and removes the cgroup itself; create killed it
// first (abandon), which left the cgroup directories behind: with
// linux.cgroupsPath for good (the cleanup of abandoned cgroups takes only
// nsfork's own names, and only 10 s later). The same path is seen made by
// a create that succeeds, so that the test cannot pass by looking in the
// wrong place.
func TestRedteamOCIFailedCreateLeavesNoCgroup(t *testing.T) {
	testreq.RootOnly(t, "linux.cgroupsPath needs a root launcher")
	e := &ociEnv{bin: sandboxrunBin(t), root: filepath.Join(tempDir(t), "state")}
	name := fmt.Sprintf("nsfork-redteam-%d", os.Getpid())
	dirs := func() []string {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
		return m
	}
	t.Cleanup(func() {
		for _, d := range dirs() {
			os.Remove(d)
		}
	})
	withPath := func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + name }
	ok := ociBundle(t, withPath, "sleep", "1000")
	e.must(t, "create", "--bundle", ok, "made")
	if len(dirs()) == 0 {
		t.Fatalf("a created container's cgroup is not at /sys/fs/cgroup/*/%s", name)
	}
	e.must(t, "delete", "--force", "made")
	failing := ociBundle(t, withPath, "true")
	setHooks(t, failing, &ociruntime.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 1"}}}})
	e.fails(t, "hooks.createRuntime[0]", "create", "--bundle", failing, "failed")
	if left := dirs(); len(left) > 0 {
		t.Errorf("a create whose hook failed left its cgroup: %v", left)
	}
}
