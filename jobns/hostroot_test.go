package jobns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

const jobHostRootEnv = "NSFORK_TEST_JOBNS_HOSTROOT"

// TestCheckOptionsHostRoot: root of a user namespace made by this test
// (its ids mapped to 0) gets ErrHostRoot for a job with the defaults when
// the test runs as host root (the job's ids would be host root's), before
// any holder is reached, and not with TrustedHostRoot; run as any other
// user (uid 65534), the defaults are a valid job.
func TestCheckOptionsHostRoot(t *testing.T) {
	if os.Getenv(jobHostRootEnv) == "1" {
		trusted := sandbox.Rootless()
		trusted.TrustedHostRoot = true
		fmt.Printf("default=%v trusted=%v\n", errors.Is(CheckOptions(sandbox.Rootless()), sandbox.ErrHostRoot), CheckOptions(trusted))
		return
	}
	want := "default=false trusted=<nil>\n"
	if os.Geteuid() == 0 && os.Getegid() == 0 {
		want = "default=true trusted=<nil>\n"
	}
	if out := testreq.RunAsNSRoot(t, "TestCheckOptionsHostRoot", jobHostRootEnv, 0); !bytes.Contains(out, []byte(want)) {
		t.Fatalf("CheckOptions as root of a user namespace mapping euid %d: %q, want %q", os.Geteuid(), out, want)
	}
}
