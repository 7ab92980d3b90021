// Command compat is one program built three times, against go-fork v0.1.1
// (-tags gofork), against nsfork's fork package (the default) and against
// nsfork's gofork package (-tags nsgofork), for the compatibility tests in
// fork/compat_gofork_test.go. Only the shim files differ.
//
//	compat CASE          fork the function CASE once, wait, print a JSON report
//	compat bench N       fork and wait for "return" N times, print the times in ns
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var funcs = map[string]any{
	"return":  func() {},
	"exit0":   func() { os.Exit(0) },
	"exit3":   func() { os.Exit(3) },
	"exec":    func() { syscall.Exec("/bin/true", []string{"true"}, os.Environ()) },
	"execbad": func() { syscall.Exec("/bin/false", []string{"false"}, os.Environ()) },
	"panic":   func() { panic("boom") },
	"sleep":   func() { time.Sleep(time.Minute) },
	// killed at once by the parent, before the function runs
	"killearly": func() { time.Sleep(time.Minute) },
	"results":   func() (int, error) { return 42, nil },
	"error":     func() error { return errors.New("it failed") },
	"stdin":     func() { fmt.Println("stdin:", fdTarget(0)) },
	"comm":      printComm,
	"fds":       printFDs,
	"args": func(s string, n int, m map[string]int, p point) {
		fmt.Printf("args: %q %d %v %+v\n", s, n, m, p)
	},
}

type point struct{ X, Y int }

// caseArgs are the arguments a case's function is forked with.
var caseArgs = map[string][]any{"args": {"a b", 7, map[string]int{"k": 3}, point{1, 2}}}

func init() {
	for name, fn := range funcs {
		f := NewFork(name, fn)
		if f == nil {
			panic(name)
		}
		Register(f)
	}
	Init()
}

func fdTarget(fd int) string {
	l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "closed"
	}
	return l
}

// printComm prints the name of the process and of each of its threads.
func printComm() {
	b, _ := os.ReadFile("/proc/self/comm")
	fmt.Println("comm:", strings.TrimSpace(string(b)))
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		b, _ := os.ReadFile("/proc/self/task/" + e.Name() + "/comm")
		fmt.Println("thread:", strings.TrimSpace(string(b)))
	}
}

// printFDs prints the child's descriptors.
func printFDs() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		fmt.Printf("fd: %d %s\n", fd, fdTarget(fd))
	}
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "bench" {
		bench(os.Args[2])
		return
	}
	if len(os.Args) != 2 || funcs[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: compat CASE | compat bench N")
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "fds" {
		// A descriptor the program leaked: open, not close-on-exec.
		fd, err := syscall.Open("/dev/zero", syscall.O_RDONLY, 0)
		if err != nil {
			panic(err)
		}
		fmt.Println("leaked:", fd)
	}
	f := NewFork(name, funcs[name])
	f.Stdout, f.Stderr = os.Stdout, os.Stderr // Stdin stays nil
	if err := f.Fork(caseArgs[name]...); err != nil {
		fmt.Fprintln(os.Stderr, "Fork:", err)
		os.Exit(1)
	}
	switch name {
	case "sleep":
		time.Sleep(100 * time.Millisecond)
		f.Process.Kill()
	case "killearly":
		f.Process.Kill()
	}
	err := f.Wait()
	r := map[string]any{"impl": impl, "case": name, "pid": f.Process.Pid, "exe": filepath.Base(os.Args[0])}
	if err != nil {
		r["err"] = err.Error()
		r["type"] = fmt.Sprintf("%T", err)
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			r["asExitError"] = xe.Error()
			r["exitCode"] = xe.ExitCode()
		}
		_, r["isExitError"] = err.(*exec.ExitError)
		r["details"] = details(err)
	}
	out, _ := json.Marshal(r)
	fmt.Println("REPORT", string(out))
}

// bench forks and waits for "return" n times, each with a new Function (a
// go-fork Function starts once), and prints each round's wall time and the
// CPU time (user and system) the child used, in ns.
func bench(arg string) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		panic(err)
	}
	for range n {
		f := NewFork("return", funcs["return"])
		f.Stdout, f.Stderr = os.Stdout, os.Stderr
		t := time.Now()
		if err := f.Fork(); err != nil {
			panic(err)
		}
		if err := f.Wait(); err != nil {
			panic(err)
		}
		wall := time.Since(t)
		st := f.ProcessState
		fmt.Println(wall.Nanoseconds(), (st.UserTime() + st.SystemTime()).Nanoseconds())
	}
}
