//go:build linux

package warm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
)

const dirNSRootEnv = "NSFORK_TEST_WARM_DIR_NSROOT"

// TestDirOfNSRoot: root of a user namespace other than the initial one
// (here this test's own ids mapped to 0, as unshare -r does) keeps its
// pools in the temporary directory, as any user: nothing under the host's
// /run/nsfork. Before, as host root's unshare -r, it made
// /run/nsfork/warm/0 (its uid 0 owns the host's /run/nsfork); as any
// user's, --warm was refused (the directory's owner is no id of its).
func TestDirOfNSRoot(t *testing.T) {
	if os.Getenv(dirNSRootEnv) == "1" {
		d, err := Dir()
		fmt.Printf("dir=%s err=%v\n", d, err)
		return
	}
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", "")
	out := testreq.RunAsNSRoot(t, "TestDirOfNSRoot", dirNSRootEnv, 0)
	want := "dir=" + filepath.Join(tmp, "nsfork-warm-0") + " err=<nil>\n"
	if !strings.Contains(string(out), want) {
		t.Fatalf("Dir() as root of a user namespace: %q, want %q (its temporary directory, nothing under /run)", out, want)
	}
}
