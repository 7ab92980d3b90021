package main

// libcap's psx: in a cgo build, the per-thread steps of the sandboxes
// started here (capabilities, Landlock, late namespaces) need it.
import _ "github.com/nsfork/nsfork/psx"
