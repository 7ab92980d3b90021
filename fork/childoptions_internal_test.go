package fork

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/nsfork/nsfork/sandbox"
)

// The child gets the compiled filter, not the profile's rules: its options
// are the caller's with the profile cut to its default action, and the
// caller's options are left as they were.
func TestChildOptionsDropRules(t *testing.T) {
	opts := sandbox.Default()
	if opts.Seccomp == nil || len(opts.Seccomp.Syscalls) == 0 {
		t.Fatal("Default() has no seccomp rules to drop")
	}
	rules := len(opts.Seccomp.Syscalls)
	prof := opts.Seccomp
	full, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := childOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Seccomp != prof || len(opts.Seccomp.Syscalls) != rules {
		t.Fatal("childOptions changed the caller's options")
	}
	var got sandbox.Options
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Seccomp == nil {
		t.Fatal("the child would not know a profile came with the filter")
	}
	if len(got.Seccomp.Syscalls) != 0 || len(got.Seccomp.Architectures) != 0 {
		t.Fatalf("the child's options still carry %d rules and %d architectures", len(got.Seccomp.Syscalls), len(got.Seccomp.Architectures))
	}
	if got.Seccomp.DefaultAction != prof.DefaultAction {
		t.Fatalf("default action %q, want %q", got.Seccomp.DefaultAction, prof.DefaultAction)
	}
	// Everything else is what the caller asked for.
	got.Seccomp = prof
	again, err := json.Marshal(&got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, full) {
		t.Fatalf("the child's options differ beyond the profile:\n%s\nwant\n%s", again, full)
	}
	if len(b)*4 > len(full) {
		t.Errorf("the child's options are %d bytes of the caller's %d: the rules were not left out", len(b), len(full))
	}

	// Without a profile: the options as they are.
	opts.Seccomp = nil
	b, _ = childOptions(opts)
	full, _ = json.Marshal(opts)
	if !bytes.Equal(b, full) {
		t.Fatal("options without a profile changed")
	}
}
