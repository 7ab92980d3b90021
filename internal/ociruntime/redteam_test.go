package ociruntime

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRedteamRootNotOwned: a state directory another user owns, or one
// others may write (without the sticky bit), is refused: whoever can write
// it can plant a state.json whose hooks and pids a later command of the
// runtime's caller would run and signal (delete runs poststop hooks from
// the record).
func TestRedteamRootNotOwned(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(open); err == nil {
		t.Errorf("Open(%s) (mode 0777): accepted, want a refusal", open)
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(other); err == nil {
			t.Errorf("Open(%s) (uid 65534's) as root: accepted, want a refusal", other)
		}
		// Reading another user's records (state, list, ps) stays open
		// to root.
		if _, err := OpenForQuery(other); err != nil {
			t.Errorf("OpenForQuery(%s) as root: %v", other, err)
		}
	}
	// Control: a private directory of the caller's is fine.
	if _, err := Open(filepath.Join(base, "mine")); err != nil {
		t.Errorf("Open of a new private directory: %v", err)
	}
}

// TestRedteamReservedIDs: in nsfork's own run directory (/run/nsfork, the
// default root for root), a container may not take the name of an entry
// of nsfork's own there: created before the first lease of host ids,
// "idranges" would become the lease directory, and delete would remove
// every lease held (two sandboxes sharing a range).
func TestRedteamReservedIDs(t *testing.T) {
	dir := t.TempDir()
	old := runDir
	runDir = dir
	defer func() { runDir = old }()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"idranges", "warm"} {
		lk, err := r.Create(id)
		if err == nil {
			lk.Unlock()
			t.Errorf("Create(%q) in nsfork's run directory: accepted", id)
			continue
		}
		if errors.Is(err, ErrExist) {
			t.Errorf("Create(%q): %v, want a refusal of the name", id, err)
		}
		if _, serr := os.Lstat(filepath.Join(dir, id)); serr == nil {
			t.Errorf("Create(%q) left %s", id, filepath.Join(dir, id))
		}
	}
	// Any other root takes these names.
	other, err := Open(filepath.Join(t.TempDir(), "r"))
	if err != nil {
		t.Fatal(err)
	}
	lk, err := other.Create("warm")
	if err != nil {
		t.Fatalf("Create(warm) in another root: %v", err)
	}
	lk.Unlock()
}
