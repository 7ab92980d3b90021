package integration

// The README's quick start shows a command and its output; this test runs
// that command (with the shared sandboxrun build in place of `go run
// ./cmd/sandboxrun`) and compares, so the README cannot drift from the
// program. It runs in the root suite and in the uid 65534 suite: the
// README says the output is the same for both.

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const readmeRun = "go run ./cmd/sandboxrun -- "

// readmeQuickStart returns the quick start's sandboxrun command line (what
// follows `go run ./cmd/sandboxrun -- `) and the output block after it.
func readmeQuickStart(t *testing.T) (cmdline, want string) {
	t.Helper()
	p := os.Getenv("NSFORK_README")
	if p == "" {
		_, file, _, _ := runtime.Caller(0)
		p = filepath.Join(filepath.Dir(filepath.Dir(file)), "README.md")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading the README (NSFORK_README names a copy): %v", err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+readmeRun)
	if i < 0 {
		t.Fatalf("%s: no line starting %q", p, readmeRun)
	}
	line := text[i+1+len(readmeRun):]
	cmdline = line[:strings.IndexByte(line, '\n')]
	// The output block is the next fenced block after the command's block.
	rest := line[strings.Index(line, "```")+3:]
	open := strings.Index(rest, "```\n")
	if open < 0 {
		t.Fatalf("%s: no output block after the quick start", p)
	}
	body := rest[open+4:]
	end := strings.Index(body, "```")
	if end < 0 {
		t.Fatalf("%s: the output block does not end", p)
	}
	return cmdline, body[:end]
}

func TestReadmeQuickStart(t *testing.T) {
	cmdline, want := readmeQuickStart(t)
	bin := sandboxrunBin(t)
	// The README's line is shell syntax; the shell replaces `go run`.
	cmd := exec.Command("/bin/sh", "-c", "exec \"$SBX\" -- "+cmdline)
	cmd.Env = append(os.Environ(), "SBX="+bin)
	cmd.Dir = tempDir(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's quick start failed: %v\n%s", err, out)
	}
	if string(out) != want {
		t.Errorf("the README's quick start prints\n%s\nbut the README shows\n%s", out, want)
	}
}
