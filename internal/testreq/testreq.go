// Package testreq is the one rule every test of this module follows when a
// privilege, a kernel feature or a host tool it needs is missing: skip,
// saying why, or, with NSFORK_REQUIRE_ALL=1 (as CI sets it), fail.
package testreq

import (
	"fmt"
	"os"
	"testing"
)

// Need does nothing when ok; otherwise it skips t with the reason, or fails
// it under NSFORK_REQUIRE_ALL=1.
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

// Strict reports whether NSFORK_REQUIRE_ALL=1 asks for every prerequisite.
func Strict() bool { return os.Getenv("NSFORK_REQUIRE_ALL") == "1" }
