package fork

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// preloadC is a library whose constructor records, in $RT_OUT, whether
// the process it is loaded into could open $RT_TARGET (a file of host
// root's, mode 0600) for writing: only host uid 0 can.
const preloadC = `#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void rt(void) {
	const char *out = getenv("RT_OUT"), *target = getenv("RT_TARGET");
	if (!out || !target) return;
	int fd = open(target, O_WRONLY);
	int e = errno;
	FILE *f = fopen(out, "a");
	if (!f) return;
	fprintf(f, "pid %d: %s\n", getpid(), fd >= 0 ? "host root: opened for writing" : strerror(e));
	fclose(f);
}
`

// preloadFixture builds the library of preloadC into a fresh directory
// under NSFORK_TEST_TMPDIR and returns the environment that preloads it,
// and the report file (writable by anyone).
func preloadFixture(t *testing.T) (env []string, out string) {
	t.Helper()
	_, err := exec.LookPath("gcc")
	testreq.Need(t, err == nil, "gcc, to build the preloaded library")
	base := os.Getenv("NSFORK_TEST_TMPDIR")
	if base == "" {
		base = "/var/lib/nsfork-t"
	}
	dir, err := os.MkdirTemp(base, "preload")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, lib := filepath.Join(dir, "rt.c"), filepath.Join(dir, "rt.so")
	if err := os.WriteFile(src, []byte(preloadC), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	target, out := filepath.Join(dir, "target"), filepath.Join(dir, "out")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Writable by the leased ids too.
	if err := os.WriteFile(out, nil, 0o666); err != nil || os.Chmod(out, 0o666) != nil {
		t.Fatal(err)
	}
	return []string{"LD_PRELOAD=" + lib, "RT_OUT=" + out, "RT_TARGET=" + target}, out
}

// TestSandboxEnvNotLoaderOfLauncher (red team): end to end beside
// TestExecEnvNotSandboxEnv, with a library the dynamic loader really
// loads: a library the sandbox's environment preloads never runs in the
// launcher's child, under either start, as a root caller's Default (with
// a time namespace too: its child execs itself again) or with maps that leave id 0 inside unmapped (whose child keeps the
// caller's ids, host root's for root, until its ids step). It ran there,
// before the setup: in a cgo build, as host root under the start without
// a fork (open(2) of a file of host root's, mode 0600, for writing
// succeeded). The control runs the library in /bin/true outside any
// sandbox.
func TestSandboxEnvNotLoaderOfLauncher(t *testing.T) {
	env, out := preloadFixture(t)
	ctl := exec.Command("/bin/true")
	ctl.Env = append(os.Environ(), env...)
	if err := ctl.Run(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || len(b) == 0 {
		t.Fatalf("control failed: /bin/true did not run the preloaded library (%v)", err)
	}
	sets := map[string]func() *sandbox.Options{
		"Default": sandbox.Default,
		// The child execs itself again in its time namespace.
		"Default with a time namespace": func() *sandbox.Options {
			o := sandbox.Default().WithNamespaces(specs.TimeNamespace)
			o.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1000}}
			return o
		},
	}
	if os.Geteuid() == 0 {
		sets["root, id 0 inside unmapped"] = func() *sandbox.Options {
			o := sandbox.Default()
			o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 300000, Size: 1}}
			o.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 1}}
			o.User = specs.User{UID: 1000, GID: 0}
			return o
		}
	}
	for name, opts := range sets {
		for _, after := range []bool{false, true} {
			func() {
				defer func(v bool) { mapsAfterStart = v }(mapsAfterStart)
				mapsAfterStart = after
				if err := os.Truncate(out, 0); err != nil {
					t.Fatal(err)
				}
				o := opts()
				o.Env = append(o.Env, env...)
				// The launch's outcome is not the point (the unmapped set
				// fails making /dev/null): the library must not have run.
				_, err := Call[string](context.Background(), "credState", o)
				b, rerr := os.ReadFile(out)
				if rerr != nil {
					t.Fatal(rerr)
				}
				if got := strings.TrimSpace(string(b)); got != "" {
					t.Errorf("%s, mapsAfterStart=%v: the library the sandbox's environment preloads ran in the launcher's child (launch: %v):\n%s", name, after, err, got)
				}
			}()
		}
	}
}
