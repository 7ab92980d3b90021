//go:build cgo

package nsinit

// cgoBuild: psx is libpsx here, which finds the threads it must change by
// listing /proc/<getpid()>/task.
const cgoBuild = true

// ThreadsThroughProc reports whether the per-thread steps (capabilities,
// no_new_privs) find the process's threads through /proc by path, as
// libpsx does in cgo builds: a root file system whose owner can rename
// its /proc could then hide threads from them, so the fork package refuses
// such a root file system in these builds.
const ThreadsThroughProc = cgoBuild
