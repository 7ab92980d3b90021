package bench

// The isolated children here change every thread: a cgo build of the test
// binary needs libcap's psx.
import _ "github.com/nsfork/nsfork/psx"
