//go:build cgo

package nsinit

// cgoBuild: psx is libpsx here, which finds the threads it must change by
// listing /proc/<getpid()>/task.
const cgoBuild = true
