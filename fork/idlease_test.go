package fork

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

func leaseDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustLease(t *testing.T, dir string, reserved []sandbox.IDRange, key string) *idLease {
	t.Helper()
	l, err := leaseIn(dir, reserved, key)
	if err != nil {
		t.Fatalf("lease %q: %v", key, err)
	}
	t.Cleanup(l.release)
	return l
}

// Two sandboxes never share a range unless they share a key; a released
// range can be leased again.
func TestIDLeaseDistinct(t *testing.T) {
	dir := leaseDir(t)
	seen := map[int]bool{}
	var ls []*idLease
	for i := 0; i < 20; i++ {
		l := mustLease(t, dir, nil, "")
		if seen[l.slot] {
			t.Fatalf("range %d leased twice", l.slot)
		}
		if b := l.base(); b < sandbox.IDPoolStart || uint64(b)+sandbox.IDRangeSize > sandbox.IDPoolEnd {
			t.Fatalf("range %d starts at host id %d, outside the pool", l.slot, b)
		}
		seen[l.slot] = true
		ls = append(ls, l)
	}
	// Every range but one reserved: the only free one, once released.
	only := ls[0].slot
	var reserved []sandbox.IDRange
	for s := 0; s < sandbox.IDPoolSlots; s++ {
		if s != only {
			reserved = append(reserved, sandbox.IDRange{Start: uint32(sandbox.IDPoolStart + s*sandbox.IDRangeSize), Size: sandbox.IDRangeSize})
		}
	}
	if _, err := leaseIn(dir, reserved, ""); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("lease with the only free range held: %v, want EBUSY", err)
	}
	ls[0].release()
	if l := mustLease(t, dir, reserved, ""); l.slot != only {
		t.Fatalf("leased range %d, want the released %d", l.slot, only)
	}
}

// Ranges listed in /etc/subuid or /etc/subgid are never leased, even when
// only part of one overlaps.
func TestIDLeaseSkipsReserved(t *testing.T) {
	dir := leaseDir(t)
	// Everything reserved but a range whose first id is in a
	// subordinate range: nothing can be leased.
	reserved := []sandbox.IDRange{{Start: sandbox.IDPoolStart, Size: sandbox.IDPoolEnd - sandbox.IDPoolStart - sandbox.IDRangeSize},
		{Start: sandbox.IDPoolEnd - sandbox.IDRangeSize, Size: 1}}
	if _, err := leaseIn(dir, reserved, ""); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("lease with every range reserved: %v, want EBUSY", err)
	}
}

// Sandboxes of one key share a range while one of them holds it; another
// key gets another range.
func TestIDLeaseShared(t *testing.T) {
	dir := leaseDir(t)
	a1 := mustLease(t, dir, nil, "job-a")
	a2 := mustLease(t, dir, nil, "job-a")
	b := mustLease(t, dir, nil, "job-b")
	own := mustLease(t, dir, nil, "")
	if a1.slot != a2.slot {
		t.Fatalf("one job got ranges %d and %d", a1.slot, a2.slot)
	}
	if b.slot == a1.slot || own.slot == a1.slot || own.slot == b.slot {
		t.Fatalf("ranges shared across jobs: a %d, b %d, own %d", a1.slot, b.slot, own.slot)
	}
	// A job whose key hashes to a range held by another job's sandbox, or
	// by a sandbox of its own, probes further.
	a1.release()
	a2.release()
	reserved := []sandbox.IDRange{}
	for s := 0; s < sandbox.IDPoolSlots; s++ {
		if s != own.slot && s != b.slot {
			reserved = append(reserved, sandbox.IDRange{Start: uint32(sandbox.IDPoolStart + s*sandbox.IDRangeSize), Size: sandbox.IDRangeSize})
		}
	}
	if _, err := leaseIn(dir, reserved, "job-c"); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("job-c with only held ranges left: %v, want EBUSY", err)
	}
}

// A launcher that ended without releasing (a KeepAlive child outlives it)
// left the pid of a process that still runs in the range: the range is not
// handed out again until that process is gone.
func TestIDLeaseSurvivor(t *testing.T) {
	testreq.RootOnly(t, "a root caller's range, with a process running as a host id of the pool")
	dir := leaseDir(t)
	l := mustLease(t, dir, nil, "")
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(int(l.base())), "--regid="+strconv.Itoa(int(l.base())), "--clear-groups", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	l.record(cmd.Process.Pid)
	// The launcher dies: its lock goes, the record stays.
	l.f.Close()
	l.f = nil
	var reserved []sandbox.IDRange
	for s := 0; s < sandbox.IDPoolSlots; s++ {
		if s != l.slot {
			reserved = append(reserved, sandbox.IDRange{Start: uint32(sandbox.IDPoolStart + s*sandbox.IDRangeSize), Size: sandbox.IDRangeSize})
		}
	}
	// setpriv needs a moment to change ids.
	for i := 0; i < 100 && !runsInRange(cmd.Process.Pid, l.slot); i++ {
		exec.Command("sleep", "0.01").Run()
	}
	if !runsInRange(cmd.Process.Pid, l.slot) {
		t.Fatal("the survivor does not run in the range")
	}
	if got, err := leaseIn(dir, reserved, ""); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("range of a live survivor leased again (%v, %v)", got, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	mustLease(t, dir, reserved, "")
}

// The lease directory must be the caller's and writable by nobody else.
func TestIDLeaseDirChecked(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := ownedDir(dir, 0o700)
	var se *SetupError
	if !errors.As(err, &se) || se.Step != "idrange" || se.Path != dir {
		t.Fatalf("world-writable lease dir accepted or badly reported: %v", err)
	}
}
