package nsinit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// TestCovering: the mount visible at a path is the last one made whose
// destination is the path or a parent of it.
func TestCovering(t *testing.T) {
	m := &mounter{}
	for _, d := range []string{"/dev/pts", "/proc", "/dev", "/proc/sys"} {
		m.made = append(m.made, &mountedFS{dest: d})
	}
	for _, c := range []struct{ p, dest, rel string }{
		{"/proc/kcore", "/proc", "kcore"},
		{"/proc/sys/kernel", "/proc/sys", "kernel"},
		{"/proc/sys", "/proc/sys", "."},
		{"/dev/pts/ptmx", "/dev", "pts/ptmx"}, // /dev came later and covers /dev/pts
		{"/procfoo", "", "/procfoo"},
		{"/etc", "", "/etc"},
	} {
		mf, rel := m.covering(c.p)
		got := ""
		if mf != nil {
			got = mf.dest
		}
		if got != c.dest || rel != c.rel {
			t.Errorf("covering(%s) = %q, %q; want %q, %q", c.p, got, rel, c.dest, c.rel)
		}
	}
	m.made = append(m.made, &mountedFS{dest: "/"})
	if mf, rel := m.covering("/etc/x"); mf == nil || mf.dest != "/" || rel != "etc/x" {
		t.Errorf("a mount on / covers everything: %v %q", mf, rel)
	}
}

// TestProtectLists: runc's defaults unless the Options list their own; an
// empty list is the defaults (the safe reading); every proc mounted
// elsewhere gets the /proc entries too.
func TestProtectLists(t *testing.T) {
	m := &mounter{o: &sandbox.Options{MaskedPaths: []string{}}}
	masked, ro := m.protectLists()
	if !slices.Equal(masked, DefaultMaskedPaths()) || !slices.Equal(ro, DefaultReadonlyPaths()) {
		t.Errorf("empty lists: %v %v", masked, ro)
	}
	m.o = &sandbox.Options{MaskedPaths: []string{"/secret", "/proc/kcore"}}
	m.made = []*mountedFS{{dest: "/proc", fstype: "proc"}, {dest: "/mnt/p", fstype: "proc"}, {dest: "/tmp", fstype: "tmpfs"}}
	masked, _ = m.protectLists()
	if want := []string{"/secret", "/proc/kcore", "/mnt/p/kcore"}; !slices.Equal(masked, want) {
		t.Errorf("masked = %v, want %v", masked, want)
	}
	if !slices.Equal(m.o.MaskedPaths, []string{"/secret", "/proc/kcore"}) {
		t.Errorf("the Options' list was changed: %v", m.o.MaskedPaths)
	}
}

// TestOpenBeneath: no symlink, no "..", no way out of the directory.
func TestOpenBeneath(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	os.Symlink("b", filepath.Join(dir, "a/link"))
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h, err := openBeneath(d, "a/b")
	testreq.Need(t, !errors.Is(err, ErrUnsupported), "openat2 (Linux 5.6): %v", err)
	if err != nil {
		t.Fatalf("a/b: %v", err)
	}
	h.Close()
	for rel, want := range map[string]error{"a/link": unix.ELOOP, "a/../../x": unix.EXDEV, "/etc": unix.EXDEV} {
		if h, err := openBeneath(d, rel); !errors.Is(err, want) {
			if h != nil {
				h.Close()
			}
			t.Errorf("%s: %v, want %v", rel, err, want)
		}
	}
	if h, err := openBeneath(d, "."); err != nil {
		t.Errorf(".: %v", err)
	} else {
		h.Close()
	}
}

// TestOpenProcRefusesStandIn: a status file that is not on a procfs (a
// stand-in in a root file system someone else can write) is refused, so
// a fake "NoNewPrivs: 1" cannot make Setup skip a step.
func TestOpenProcRefusesStandIn(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "status")
	os.WriteFile(fake, []byte("CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"), 0o644)
	if _, err := readProcStatus(nil, fake); !errors.Is(err, unix.EXDEV) {
		t.Errorf("stand-in status read: %v, want EXDEV", err)
	}
	m, err := readProcStatus(nil, "/proc/thread-self/status")
	if err != nil || m["CapBnd"] == "" {
		t.Errorf("real status: %v %v", m, err)
	}
	if err := checkThreads("/proc/self/task", threadFields); err != nil {
		t.Errorf("this test's own threads differ: %v", err)
	}
}
