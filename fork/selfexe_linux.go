package fork

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// A sandboxed child is started from a sealed in-memory copy of this binary,
// not from the file on disk: /proc/self/exe, /proc/1/exe and
// /proc/<ppid>/exe inside the sandbox then lead to memory nobody can
// write (F_SEAL_WRITE), never to the launcher's binary (the CVE-2019-5736
// class of attack). The copy is made once per process.
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
	if _, err := io.Copy(mem, src); err != nil {
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
