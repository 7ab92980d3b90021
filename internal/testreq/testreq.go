// Package testreq is the one rule every test of this module follows when a
// privilege, a host tool, a host setting or a kernel feature it needs is
// missing.
//
// # Strict mode
//
// NSFORK_REQUIRE_ALL=1 (CI sets it, through .ci/run) says that the machine
// was prepared for the whole suite. Two kinds of absence are told apart:
//
//   - What .ci/run installs or starts: Debian packages (newuidmap, busybox,
//     runc, crun, bwrap, python3-seccomp, strace, vagrant, ...), the
//     subordinate ids of the unprivileged suite's user, munge and a
//     Slurm of two nodes. Its absence is a broken test machine: Need fails the
//     test. Outside strict mode it skips, saying what is missing and which
//     package or command provides it.
//   - A kernel feature the running kernel does not have (IA-32 emulation
//     switched off, a cgroup v2-only host, an LSM that was not booted): no
//     package fixes it. The test detects it from the kernel itself (the
//     kernel's own answer to the operation, or a file only the kernel
//     writes; never a guess from the distribution or a configuration file
//     the kernel may override) and calls KernelLacks, which reports it in
//     the test output with the evidence and with the test that covers the
//     same logic another way (the i386 branch of a seccomp filter on
//     golang.org/x/net/bpf's VM, for example). The test goes on with the
//     parts that do not need the feature; it is never a silent pass, and
//     the same holds with and without NSFORK_REQUIRE_ALL=1.
//
// Anything else a test finds wrong is a failure, never a skip: in
// particular an error from a child or a setup step is not taken as a
// missing prerequisite unless the prerequisite itself was checked.
package testreq

import (
	"fmt"
	"os"
	"testing"
)

// Need does nothing when ok; otherwise it skips t with the reason, or fails
// it under NSFORK_REQUIRE_ALL=1. Use it for what .ci/run can install or
// start.
func Need(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	why := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("prerequisite missing (NSFORK_REQUIRE_ALL=1): %s", why)
	}
	t.Skip("skipped, missing: " + why)
}

// KernelLacks reports, in t's output, that the running kernel lacks
// feature: evidence is what the kernel itself answered, coveredBy names
// the test that covers the logic the missing feature would have exercised.
// It neither skips nor fails t, in strict mode or not: the caller leaves
// out only what needs the feature. A call without evidence or without
// coveredBy fails t, since a feature that is merely assumed absent, or
// whose logic nothing else tests, is a hole in the suite.
func KernelLacks(t testing.TB, feature, evidence, coveredBy string) {
	t.Helper()
	if evidence == "" || coveredBy == "" {
		t.Fatalf("testreq.KernelLacks(%q) needs the kernel's evidence and the test that covers the logic instead (evidence %q, covered by %q)", feature, evidence, coveredBy)
	}
	t.Logf("kernel lacks %s: %s; not tried live, covered by %s", feature, evidence, coveredBy)
}

// RootOnly skips t when the caller is not root: for a test of a behaviour
// that only a root caller has (not a missing prerequisite: the suite runs
// as root too, where it runs), so it is a skip in strict mode as well.
// what says which behaviour.
func RootOnly(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("root-mode test (" + what + "); it runs in the root suite")
	}
}

// OptIn skips t unless the environment variable env is "1": for a test
// that runs on request only, a skip in strict mode as well. Two kinds
// qualify, and why must say which: one too slow for every run that CI
// starts on its own beside the suite (Slurm's time limit), and the
// reproduction of an open finding that SECURITY.md lists, kept so that a
// fix can be proved by it.
func OptIn(t testing.TB, env, why string) {
	t.Helper()
	if os.Getenv(env) != "1" {
		t.Skip(why + " (" + env + "=1 runs it)")
	}
}

// Strict reports whether NSFORK_REQUIRE_ALL=1 asks for every prerequisite.
func Strict() bool { return os.Getenv("NSFORK_REQUIRE_ALL") == "1" }
