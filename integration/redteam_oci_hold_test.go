package integration

import (
	"path/filepath"
	"strings"
	"testing"

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
// which owns the container's user namespace and may trace them anyway,
// and exec into a rootless container does not run yet (nsenter's
// setgroups is denied there).
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
