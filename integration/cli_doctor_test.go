package integration

// sandboxrun doctor, --help, completion and cleanup.

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/int80"
)

// TestCLIDoctor: doctor says what works and exits 0 where the defaults do.
func TestCLIDoctor(t *testing.T) {
	r := sbx(t, "", "doctor")
	if r.code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, w := range []string{"user namespaces", "subordinate ids", "seccomp", "landlock", "cgroups", "root filesystem", "ok    defaults"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("doctor output lacks %q:\n%s", w, r.out)
		}
	}
	if !root() && !strings.Contains(r.out, "not delegated") {
		t.Errorf("rootless doctor should say cgroups are not delegated:\n%s", r.out)
	}
	// The i386 ABI line says what the kernel answers this process.
	i386 := "i386 ABI           available"
	if err := int80.Probe(); errors.Is(err, int80.ErrOff) {
		i386 = "i386 ABI           off in this kernel"
	} else if errors.Is(err, errors.ErrUnsupported) {
		i386 = "i386 ABI           not an x86-64 build"
	} else if err != nil {
		t.Fatalf("int80.Probe: %v", err)
	}
	if !strings.Contains(r.out, i386) {
		t.Errorf("doctor output lacks %q:\n%s", i386, r.out)
	}
	r = sbx(t, "", "doctor", "--json")
	var v struct {
		OK     bool `json:"ok"`
		Checks []struct{ Name, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || !v.OK || len(v.Checks) < 7 {
		t.Errorf("doctor --json: %v %+v", err, v)
	}
}

// TestCLIHelpCompletionCleanup: --help has examples, completion scripts are
// generated, cleanup runs.
func TestCLIHelpCompletionCleanup(t *testing.T) {
	out := mustRun(t, "--help")
	for _, w := range []string{"Examples:", "--unshare-net", "--rlimit", "--seccomp", "Exit status"} {
		if !strings.Contains(out, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := mustRun(t, "completion", sh); !strings.Contains(out, "sandboxrun") {
			t.Errorf("completion %s: %q", sh, out)
		}
	}
	if out := mustRun(t, "__complete", "--cap-add", "NET_B"); !strings.Contains(out, "NET_BIND_SERVICE") {
		t.Errorf("flag completion: %q", out)
	}
	if out := mustRun(t, "cleanup"); out == "" {
		t.Error("cleanup printed nothing")
	}
}
