// Package psx, imported for its side effect, links libcap's psx into a
// program so that, in a cgo build, nsfork's sandboxes can change every
// thread of a child:
//
//	import _ "github.com/nsfork/nsfork/psx"
//
// Capabilities, the bounding set, the ambient set, late cgroup and ipc
// namespaces and Landlock are per thread in Linux, and a Go child runs
// several threads before its setup starts. Without cgo the Go runtime's
// syscall.AllThreadsSyscall changes them all, and this import changes
// nothing. With cgo the runtime refuses that call, and only libpsx can do
// it. libpsx is C code with its own signal handling for the job, and
// what a program links every child of it loads again, so nsfork links it
// only where asked. A cgo
// program without this import that starts a sandbox needing such a change
// is refused before the child starts, with an error naming this import
// (allthreads.ErrNoPSX's text); a program that only forks (the go-fork
// API, fork.Fork, Start without options) never needs it.
package psx
