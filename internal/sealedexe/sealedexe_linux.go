// Package sealedexe makes a sealed in-memory copy of the running binary to
// exec instead of its file: /proc/<pid>/exe of a process started from it
// leads to memory nobody can write (F_SEAL_WRITE), never to the file (the
// CVE-2019-5736 class of attack), and its code is not mapped from the
// file's page cache (docs/speed.md, "Pooled children run from memory").
package sealedexe

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// minFD keeps the copy's descriptor clear of the low numbers a child's
// passed descriptors are moved to before its exec.
const minFD = 1000

// Make copies /proc/self/exe into a sealed memfd, which stays open
// (close-on-exec, at descriptor 1000 or above) for the process's life, and
// returns a path to exec it by.
func Make() (string, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("sealed self-exe: %w", err)
	}
	defer src.Close()
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("nsfork-exe", flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // kernels before 6.3 know no MFD_EXEC
		fd, err = unix.MemfdCreate("nsfork-exe", flags)
	}
	if err != nil {
		return "", fmt.Errorf("sealed self-exe: memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "nsfork-exe")
	defer mem.Close()
	if err := copyAll(fd, int(src.Fd())); err != nil {
		return "", fmt.Errorf("sealed self-exe: copy: %w", err)
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return "", fmt.Errorf("sealed self-exe: seal: %w", err)
	}
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, minFD)
	if err != nil {
		return "", fmt.Errorf("sealed self-exe: dup: %w", err)
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
