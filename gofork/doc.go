// Package fork (import path github.com/nsfork/nsfork/gofork) is a drop-in
// for github.com/kraken-hpc/go-fork v0.1.1 at go-fork's cost: a go-fork
// program changes only its import path. It has go-fork's names with the
// same types (Function, NewFork, Register, RegisterFunc, Init, Fork) and
// behaves as the go-fork compatible surface of github.com/nsfork/nsfork/fork
// does, without that package's sandbox: a program that imports only this
// package links the standard library packages go-fork links, plus
// golang.org/x/sys/unix and two small internal packages, so each child
// starts as fast as a go-fork child (docs/speed.md).
//
// What Wait returns: nil for a child that exited 0 after its function ran
// (it returned, called os.Exit(0), or exec'ed a program that exited 0); an
// *exec.ExitError, unwrapped, with os/exec's text ("exit status 3",
// "signal: killed") for a non-zero exit or a signal, also for a function
// that returned a non-nil error (exit status 1) and a panic (exit status
// 2, Go's panic report and stack on the child's stderr). A child that
// exited 0 without running its function (the program never called Init)
// is an error too, not a success.
//
// The child: a new process of the same binary (/proc/self/exe, so a binary
// replaced on disk is never the one that runs), with argv os.Args[0] or
// NewFork's argv, named after the program (its comm, which ps, pgrep,
// killall, top and ss show); a nil Stdin is /dev/null, a nil Stdout or
// Stderr the parent's; it does not inherit descriptors the parent leaked
// (open, not close-on-exec); it outlives the parent unless SysProcAttr
// says otherwise. The function and its arguments travel over an inherited
// socket whose peer the child checks, with a random token, so an inherited
// environment variable alone never runs a function.
//
// For results, typed errors, sandboxes, pools and commands use
// github.com/nsfork/nsfork/fork. A program may import both: each package's
// Init runs only the children its own Fork started.
package fork
