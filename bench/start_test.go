package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Rows for issue 24: the CLI's own start. `sandboxrun --version` does
// nothing but start (the Go runtime, every package's init, the command
// line's parsing) and print a line, so it is compared with an empty static
// Go program; a static C `return 0` shows what an exec costs without a Go
// runtime. The empty Go program and the C one are built when the suite
// starts (go build with CGO_ENABLED=0, gcc -static), or taken from
// $NSFORK_GO_EMPTY and $NSFORK_C_RETURN0; sandboxrun as the Makefile
// builds it (cgo where a C compiler is found, as `go build` does) and,
// from $NSFORK_SANDBOXRUN_NOCGO, its CGO_ENABLED=0 build.

const keyGoEmpty = "exec-go-empty"

var startOnce struct {
	sync.Once
	dir string
	err error
}

func startDir() (string, error) {
	startOnce.Do(func() {
		startOnce.dir, startOnce.err = os.MkdirTemp("", "nsfork-bench-start-")
		if startOnce.err == nil {
			os.Chmod(startOnce.dir, 0o755)
		}
	})
	return startOnce.dir, startOnce.err
}

// startProgram returns $env, or builds source (a file named name in a
// temporary directory) with build, which gets the source and output paths.
func startProgram(env, name, source string, build func(src, out string) *exec.Cmd) (string, string) {
	if p := os.Getenv(env); p != "" {
		return p, ""
	}
	dir, err := startDir()
	if err != nil {
		return "", err.Error()
	}
	src := filepath.Join(dir, name)
	out := src + ".bin"
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return "", err.Error()
	}
	c := build(src, out)
	if b, err := c.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("%s: %v: %s", c.Args[0], err, b)
	}
	return out, ""
}

// quietRun runs path with args, its stdout thrown away (--version prints).
func quietRun(path string, args ...string) func() error {
	return func() error {
		c := exec.Command(path, args...)
		c.Stdin, c.Stderr = os.Stdin, os.Stderr
		return c.Run()
	}
}

func addStartRows(add func(*row)) {
	goEmpty, goWhy := startProgram("NSFORK_GO_EMPTY", "empty.go", "package main\n\nfunc main() {}\n", func(src, out string) *exec.Cmd {
		c := exec.Command("go", "build", "-o", out, src)
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		return c
	})
	cRet, cWhy := startProgram("NSFORK_C_RETURN0", "return0.c", "int main(void) { return 0; }\n", func(src, out string) *exec.Cmd {
		return exec.Command("gcc", "-static", "-O2", "-o", out, src)
	})
	if cWhy != "" {
		cWhy = "no static C program (Debian: gcc, libc6-dev): " + cWhy
	}
	add(&row{key: keyGoEmpty, label: "os/exec empty static Go program (CGO_ENABLED=0)", run: quietRun(goEmpty), skip: goWhy})
	add(&row{key: "exec-c-return0", label: "os/exec static C `return 0` (gcc -static)", run: quietRun(cRet), base: keyGoEmpty, skip: cWhy})
	sbr, why := sandboxrunBinary()
	add(&row{key: "sandboxrun-version", label: "`sandboxrun --version` (go build's default: cgo)", run: quietRun(sbr, "--version"), base: keyGoEmpty, maxRatio: 1.3, skip: why})
	nocgo := &row{key: "sandboxrun-version-nocgo", label: "`sandboxrun --version` (CGO_ENABLED=0 build)", base: keyGoEmpty, maxRatio: 1.3}
	if p := os.Getenv("NSFORK_SANDBOXRUN_NOCGO"); p != "" {
		nocgo.run = quietRun(p, "--version")
	} else {
		nocgo.skip = "NSFORK_SANDBOXRUN_NOCGO not set (make bench sets it)"
	}
	add(nocgo)
}

func removeStart() {
	if startOnce.dir != "" {
		os.RemoveAll(startOnce.dir)
	}
}
