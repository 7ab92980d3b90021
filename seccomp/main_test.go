package seccomp

import (
	"fmt"
	"os"
	"testing"
)

// childEnv selects a child mode: the test binary re-executes itself with it
// set, so that irreversible process changes (no_new_privs, seccomp) happen
// only in a child.
const childEnv = "NSFORK_SECCOMP_TEST_CHILD"

var childModes = map[string]func() error{}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		f, ok := childModes[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
			os.Exit(3)
		}
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
