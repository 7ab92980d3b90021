package warm

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirRefusesWhatIsNotPrivate: the pools' directory must be the
// caller's own directory with no access for anyone else; anything else is
// an error and is left as it is.
func TestDirRefusesWhatIsNotPrivate(t *testing.T) {
	base := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", base)
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil || st.Mode&0o777 != 0o700 || int(st.Uid) != os.Geteuid() {
		t.Fatalf("Dir() = %s: %v mode %o uid %d", dir, err, st.Mode&0o777, st.Uid)
	}
	os.Chmod(dir, 0o750)
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "others have access") {
		t.Errorf("a 0750 directory: %v, want a refusal", err)
	}
	os.Remove(dir)
	target := t.TempDir()
	os.Chmod(target, 0o700)
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a symbolic link: %v, want a refusal", err)
	}
	os.Remove(dir)
	if os.Geteuid() == 0 {
		os.Mkdir(dir, 0o700)
		os.Chown(dir, 65534, 65534)
		if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("another user's directory: %v, want a refusal", err)
		}
	}
	os.Chmod(base, 0o777)
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("an XDG_RUNTIME_DIR anyone may write: %v, want a refusal", err)
	}
}

func TestPathsForBoundsTheSocketPath(t *testing.T) {
	key := strings.Repeat("a", 32)
	if _, err := PathsFor("/run/user/1000/nsfork-warm", key); err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("d", 70)
	if _, err := PathsFor(long, key); err == nil || !strings.Contains(err.Error(), "fewer than 108") {
		t.Errorf("a %d-byte socket path: %v, want an error", len(long)+38, err)
	}
}

// TestKeySeparates: other options, or another context, are another pool.
func TestKeySeparates(t *testing.T) {
	ctx, err := CallerContext(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CapBnd=", "NoNewPrivs=", "ns user=", "ns pid=", "cgroup=", "limits=", "exe=", "scope="} {
		if !strings.Contains(string(ctx), want) {
			t.Errorf("context lacks %q:\n%s", want, ctx)
		}
	}
	a, b := Key([]byte(`{"hostname":"a"}`), ctx), Key([]byte(`{"hostname":"b"}`), ctx)
	c := Key([]byte(`{"hostname":"a"}`), append([]byte("x"), ctx...))
	if a == b || a == c || len(a) != 32 || a != Key([]byte(`{"hostname":"a"}`), ctx) {
		t.Errorf("keys %s %s %s", a, b, c)
	}
}

// TestFrameBounds: a frame with more descriptors than it may carry is
// refused and its descriptors closed; a frame over maxFrame is refused.
func TestFrameBounds(t *testing.T) {
	a, b := socketPair(t)
	r, w, _ := os.Pipe()
	if err := writeFrame(a, message{Kind: kindKill}, r, w, r, w); err != nil {
		t.Fatal(err)
	}
	var m message
	if _, err := readFrame(b, &m, 3); err == nil {
		t.Error("4 descriptors where 3 may come: accepted")
	}
	r.Close()
	// The reader's copies are closed: with ours gone, the pipe's write
	// end is closed everywhere, so a write fails.
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("the refused frame's descriptors are still open")
	}
	w.Close()
	a.Close()
	b.Close()

	a, b = socketPair(t)
	a.Write([]byte{0xff, 0xff, 0xff, 0xff})
	if _, err := readFrame(b, &m, 0); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("a 4 GiB frame: %v", err)
	}
	a.Close()
	b.Close()
}
