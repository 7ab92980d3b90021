package integration

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// exeAttack tries, from inside the sandbox, to open the launcher's binary
// for writing through every /proc path that leads to it, and through a
// read-only descriptor re-opened for writing (the CVE-2019-5736 way).
// It returns one line per attempt that succeeded.
func exeAttack(ppid int) []string {
	var won []string
	paths := []string{"/proc/self/exe", "/proc/1/exe"}
	if ppid > 0 {
		paths = append(paths, fmt.Sprintf("/proc/%d/exe", ppid))
	}
	for _, p := range paths {
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
			won = append(won, "opened for writing: "+p)
		}
		if r, err := os.Open(p); err == nil {
			if f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", r.Fd()), os.O_WRONLY, 0); err == nil {
				if _, err := f.Write([]byte("owned")); err == nil {
					won = append(won, "wrote through a re-opened descriptor: "+p)
				}
				f.Close()
			}
			r.Close()
		}
	}
	return won
}

// exeIsDisk reports whether /proc/self/exe is the file with the given
// device and inode (the parent stats it: a root caller's sandbox runs as
// unprivileged host ids, which may not reach its path).
func exeIsDisk(dev, ino uint64) (bool, error) {
	var a unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &a); err != nil {
		return false, err
	}
	return a.Dev == dev && a.Ino == ino, nil
}

func init() {
	fork.RegisterFunc("exeAttack", exeAttack)
	fork.RegisterFunc("exeIsDisk", exeIsDisk)
}

func fileHash(t *testing.T, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// TestSelfExeCannotBeOverwritten: from a sandbox (with and without a pid
// namespace, so that the launcher's /proc entry is visible too), no path
// through /proc reaches the launcher's binary for writing, and the binary's
// hash is unchanged. Without a pid namespace, where a sandboxed process can
// outlive everything that executes the binary, the child runs from a sealed
// copy; in one, pid 1 executes the binary for the sandbox's whole life. A
// pool's children run from the copy either way.
func TestSelfExeCannotBeOverwritten(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, self)
	for _, opts := range []*sandbox.Options{sandbox.Default(), sandbox.Default().WithoutNamespaces(specs.PIDNamespace)} {
		won, err := fork.Call[[]string](context.Background(), "exeAttack", opts, os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range won {
			t.Errorf("attack succeeded: %s", w)
		}
		if opts.NewNamespace(specs.PIDNamespace) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(self, &st); err != nil {
			t.Fatal(err)
		}
		same, err := fork.Call[bool](context.Background(), "exeIsDisk", opts, st.Dev, st.Ino)
		if err != nil {
			t.Fatal(err)
		}
		if same {
			t.Errorf("without a pid namespace the child runs the binary on disk, not a sealed copy")
		}
	}
	// A pool's children run from the sealed copy, with a pid namespace
	// too (for speed: fork/start_linux.go); a cold start with one runs the
	// binary's file.
	var st unix.Stat_t
	if err := unix.Stat(self, &st); err != nil {
		t.Fatal(err)
	}
	pool, err := fork.NewPool(sandbox.Default(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	res, err := pool.Call(context.Background(), "exeAttack", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res[0].([]string) {
		t.Errorf("attack from a pooled child succeeded: %s", w)
	}
	res, err = pool.Call(context.Background(), "exeIsDisk", st.Dev, st.Ino)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].(bool) {
		t.Errorf("a pooled child runs the binary on disk, not the sealed copy")
	}
	cold, err := fork.Call[bool](context.Background(), "exeIsDisk", sandbox.Default(), st.Dev, st.Ino)
	if err != nil {
		t.Fatal(err)
	}
	if !cold {
		t.Errorf("a cold start with a pid namespace runs a copy, not the binary's file (7 ms more a process)")
	}
	if fileHash(t, self) != before {
		t.Fatal("the launcher's binary changed")
	}
}
