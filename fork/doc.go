// Package fork runs a Go function of this program, or a command, in a new
// process isolated as sandbox.Options say: namespaces, id maps, mounts,
// rlimits, a cgroup, capabilities, no_new_privs, Landlock and seccomp. Its
// API is go-fork's (github.com/kraken-hpc/go-fork), grown by a context, the
// sandbox and typed results.
//
// The binary re-executes itself: the child finds the function by the name
// it was registered under and runs it, so every process of the program
// must register the same functions before it calls Init.
//
// # Registering
//
// Register functions by name, then call Init, early: in an init function
// or first thing in main. In a child Init runs the function and exits; in
// the parent it returns at once.
//
//	func init() {
//		fork.RegisterFunc("sum", sum)
//		fork.Init()
//	}
//
// A function's parameters are gob-encodable values, []byte and string
// (sent without gob), or *os.File (passed as a descriptor). Its results
// come back typed; a last result of type error comes back as the error.
// Registering a name twice panics.
//
// # Starting
//
// Four ways, one for each job:
//
//   - Call[T] starts a function, waits, and returns its first result.
//   - (*Config).Start starts a function and returns its Process at once
//     (Wait, Results, Signal, Usage, Applied). A nil *Config, or
//     new(Config), is the zero one.
//   - (*Config).StartCommand runs a command in the same sandbox.
//   - Pool keeps children started and isolated ahead of time; each serves
//     one call (Pool.Call, Pool.Start).
//
// A nil *sandbox.Options runs the child without isolation, sharing
// everything with its parent as a go-fork child does. sandbox.Default()
// is the safe preset for the caller (rootless or root). Cancelling the
// context kills the child and reaps it, and, in a new pid namespace,
// everything it started.
//
// # cgo builds: import psx
//
// Capabilities, the bounding and ambient sets, late cgroup and ipc
// namespaces and Landlock are per thread in Linux, and the child's setup
// changes them on every thread. Without cgo the Go runtime does that
// (syscall.AllThreadsSyscall). A cgo build needs libcap's libpsx (C
// code), which is linked only into programs that ask for it:
//
//	import _ "github.com/nsfork/nsfork/psx"
//
// A cgo program without it that starts such a sandbox gets a *SetupError
// wrapping ErrNoPSX before the child starts. Programs that only fork
// (the go-fork names, a nil *sandbox.Options) never need it.
//
// # go-fork
//
// NewFork, Register, RegisterFunc, Init, Fork, (*Function).Fork and
// (*Function).Wait keep go-fork's names and meaning (a compatibility suite
// runs one program built against both, side by side). Fork does not
// isolate. A program that needs go-fork's API and nothing more imports
// github.com/nsfork/nsfork/gofork instead: the same names at go-fork's
// cost, without the sandbox's packages, which every child of a program
// importing this package starts with.
//
// # Errors
//
// Wait returns the function's own error as a *RemoteError (its errno
// still matches errors.Is), a panic as a *PanicError, a failed sandbox
// step as a *SetupError (the step, the operation, the path and the errno,
// in the child or in the parent on its behalf), a child killed by its
// seccomp filter as a *SeccompError, by the OOM killer as an *OOMError,
// and any other end as an *ExitError.
//
// # Deprecated names
//
// Start, ForkIsolated and ForkIsolatedContext are (*Config).Start with
// fewer arguments; they keep working until the next minor version.
package fork
