package fork

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
)

// TestOpenSourceLinks: openSource follows root's and the caller's links,
// absolute and relative, with "..", through the middle of a path and at
// its end, as the kernel would, and refuses one another user owns
// wherever it is on the path (ELOOP, naming it), and a loop.
func TestOpenSourceLinks(t *testing.T) {
	testreq.RootOnly(t, "links of another user's are made with lchown")
	base := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(base, "target")
	must(os.MkdirAll(filepath.Join(target, "sub"), 0o700))
	must(os.Mkdir(filepath.Join(base, "d"), 0o755))
	must(os.Symlink(target, filepath.Join(base, "abs")))
	must(os.Symlink("d/../target", filepath.Join(base, "rel")))
	must(os.Symlink(target, filepath.Join(base, "d", "foreign")))
	must(os.Lchown(filepath.Join(base, "d", "foreign"), 65534, 65534))
	must(os.Symlink("loop", filepath.Join(base, "loop")))
	var want unix.Stat_t
	must(unix.Stat(filepath.Join(target, "sub"), &want))
	for _, c := range []struct {
		path string
		err  error  // nil: opens target/sub
		link string // the refused link
	}{
		{path: filepath.Join(base, "abs", "sub")},
		{path: filepath.Join(base, "rel", "sub")},
		{path: filepath.Join(base, "d", "..", "abs", "sub")},
		{path: filepath.Join(base, "d", "foreign", "sub"), err: unix.ELOOP, link: filepath.Join(base, "d", "foreign")},
		{path: filepath.Join(base, "d", "foreign"), err: unix.ELOOP, link: filepath.Join(base, "d", "foreign")},
		{path: filepath.Join(base, "loop"), err: unix.ELOOP},
		{path: filepath.Join(base, "missing"), err: unix.ENOENT},
	} {
		fd, err := openSource(c.path)
		if c.err == nil {
			var st unix.Stat_t
			if err == nil {
				err = unix.Fstat(fd, &st)
				unix.Close(fd)
			}
			if err != nil || st.Ino != want.Ino || st.Dev != want.Dev {
				t.Errorf("%s: %v, inode %d; want %s (inode %d)", c.path, err, st.Ino, filepath.Join(target, "sub"), want.Ino)
			}
			continue
		}
		if err == nil {
			unix.Close(fd)
		}
		var le *sourceLinkError
		if !errors.Is(err, c.err) || (c.link != "") != errors.As(err, &le) || le != nil && le.link != c.link {
			t.Errorf("%s: %v; want %v%s", c.path, err, c.err, fmt.Sprintf(" naming %q", c.link))
		}
	}
}
