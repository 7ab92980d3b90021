//go:build linux

package warm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
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
		fmt.Printf("dir=%s err=%v tag=%s\n", d, err, sandbox.UserNSTag())
		return
	}
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", "")
	// Another user's root of a user namespace was first: its uid is 0
	// too. As root, make its directory owned by another uid: taking the
	// same name would be refused (owned by another), a denial of service.
	if os.Geteuid() == 0 {
		squat := filepath.Join(tmp, "nsfork-warm-0")
		if err := os.Mkdir(squat, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(squat, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	out := string(testreq.RunAsNSRoot(t, "TestDirOfNSRoot", dirNSRootEnv, 0))
	i := strings.Index(out, " tag=-ns")
	if i < 0 {
		t.Fatalf("Dir() as root of a user namespace: %q: no namespace tag", out)
	}
	tag, _, _ := strings.Cut(out[i+len(" tag="):], "\n")
	want := "dir=" + filepath.Join(tmp, "nsfork-warm-0"+tag) + " err=<nil>"
	if !strings.Contains(out, want) || len(tag) <= len("-ns") {
		t.Fatalf("Dir() as root of a user namespace: %q, want %q (its temporary directory, named for its namespace; nothing under /run)", out, want)
	}
}
