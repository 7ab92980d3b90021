// Package forkchild is the child side that fork and gofork share: the
// marker a parent puts into its child's environment, the check that the
// channel the marker names is the parent's own socket, the child's
// process name, and the closing of descriptors the child inherited by
// accident.
//
// Its import graph is kept to what a go-fork program already links (the
// standard library's os, fmt, strconv, strings) plus golang.org/x/sys/unix:
// gofork imports it, and every child of a gofork program runs its
// package initialisers.
package forkchild
