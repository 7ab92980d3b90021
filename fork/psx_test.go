package fork_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"

	// The tests' isolated children change every thread: a cgo build of
	// the test binary needs libcap's psx (TestNoPSX builds a program
	// without it).
	_ "github.com/nsfork/nsfork/psx"
)

// TestNoPSX builds fork/testdata/nopsx with cgo, without and with the
// psx import: without it a plain child runs, and an isolated one whose
// setup changes every thread is refused before it starts, with an error
// naming the import; with it both run.
func TestNoPSX(t *testing.T) {
	_, err := exec.LookPath("go")
	testreq.Need(t, err == nil, "the go command, to build fork/testdata/nopsx")
	_, err = exec.LookPath("gcc")
	testreq.Need(t, err == nil, "gcc, for the cgo build of fork/testdata/nopsx")
	dir := t.TempDir()
	for _, tags := range []string{"", "psx"} {
		bin := filepath.Join(dir, "nopsx"+tags)
		cmd := exec.Command("go", "build", "-tags", tags, "-o", bin, "./testdata/nopsx")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %q ./testdata/nopsx: %v\n%s", tags, err, out)
		}
		out, err := exec.Command(bin).CombinedOutput()
		if err != nil {
			t.Fatalf("nopsx (tags %q): %v\n%s", tags, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		want := []string{"child: ran", "plain: ok", "child: ran", "isolated: ok"}
		if tags == "" {
			want = []string{"child: ran", "plain: ok", "isolated: nopsx"}
		}
		ok := len(lines) == len(want)
		for i := 0; ok && i < len(want); i++ {
			ok = strings.HasPrefix(lines[i], want[i])
		}
		if !ok {
			t.Fatalf("nopsx (tags %q) printed:\n%s\nwant lines starting with %q", tags, out, want)
		}
		if tags == "" {
			refusal := lines[len(lines)-1]
			for _, s := range []string{"capabilities: capset on every thread", `import _ "github.com/nsfork/nsfork/psx"`, "ENOTSUP"} {
				if !strings.Contains(refusal, s) {
					t.Errorf("the refusal %q lacks %q", refusal, s)
				}
			}
		}
	}
}
