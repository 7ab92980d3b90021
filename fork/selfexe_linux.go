package fork

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
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
// memory nobody can write (F_SEAL_WRITE), never to the file. A pool's
// children are started from the copy too, for speed (start_linux.go). The
// copy is made once per process (about 7 ms for 14 MiB) and held in memory
// for its life.
var selfExe struct {
	once sync.Once
	path string
	err  error
}

// minExeFD keeps the copy's descriptor clear of the low numbers the child's
// passed descriptors are moved to before the exec.
const minExeFD = 1000

func sealedSelf() (string, error) {
	selfExe.once.Do(func() {
		selfExe.path, selfExe.err = makeSealedSelf()
	})
	return selfExe.path, selfExe.err
}

func makeSealedSelf() (string, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("fork: sealed self-exe: %w", err)
	}
	defer src.Close()
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("nsfork-exe", flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // kernels before 6.3 know no MFD_EXEC
		fd, err = unix.MemfdCreate("nsfork-exe", flags)
	}
	if err != nil {
		return "", fmt.Errorf("fork: sealed self-exe: memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "nsfork-exe")
	defer mem.Close()
	if err := copyAll(fd, int(src.Fd())); err != nil {
		return "", fmt.Errorf("fork: sealed self-exe: copy: %w", err)
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return "", fmt.Errorf("fork: sealed self-exe: seal: %w", err)
	}
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, minExeFD)
	if err != nil {
		return "", fmt.Errorf("fork: sealed self-exe: dup: %w", err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", high), nil
}

// copyAll copies the whole of src into dst in the kernel (sendfile; the
// generic io.Copy falls back to 32 KiB reads and writes between a file and
// a memfd, several times slower for a binary of a few MiB).
func copyAll(dst, src int) error {
	for {
		n, err := unix.Sendfile(dst, src, nil, 1<<30)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}
