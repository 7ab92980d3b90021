package fork

import (
	"fmt"
	"sync"

	"github.com/nsfork/nsfork/internal/sealedexe"
)

// The launcher's binary must not be writable from inside a sandbox through
// /proc/self/exe, /proc/1/exe or /proc/<ppid>/exe (the CVE-2019-5736 class
// of attack). The kernel refuses to open a file for writing while any
// process executes it (ETXTBSY). In a new pid namespace the child is pid 1
// and executes this binary for as long as anything in the sandbox lives
// (its death kills them all), so no sandboxed process ever sees the binary
// idle. Without a new pid namespace a sandboxed process can outlive both
// the child and the launcher; such a child is started from a sealed
// in-memory copy of the binary instead, so that /proc/<pid>/exe leads to
// memory nobody can write (F_SEAL_WRITE), never to the file
// (internal/sealedexe). A pool's
// children are started from the copy too, for speed (start_linux.go). The
// copy is made once per process (about 7 ms for 14 MiB) and held in memory
// for its life.
var selfExe struct {
	once sync.Once
	path string
	err  error
}

func sealedSelf() (string, error) {
	selfExe.once.Do(func() {
		selfExe.path, selfExe.err = sealedexe.Make()
		if selfExe.err != nil {
			selfExe.err = fmt.Errorf("fork: %w", selfExe.err)
		}
	})
	return selfExe.path, selfExe.err
}
