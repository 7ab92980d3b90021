package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const nativeGOARCH = runtime.GOARCH

// ErrNoNewPrivs is wrapped by Load's error when the caller has neither
// no_new_privs nor CAP_SYS_ADMIN.
var ErrNoNewPrivs = errors.New("neither no_new_privs nor CAP_SYS_ADMIN is set: call prctl(PR_SET_NO_NEW_PRIVS, 1) first or keep CAP_SYS_ADMIN")

func mayLoad() error {
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("seccomp: load: prctl(PR_GET_NO_NEW_PRIVS): %w", err)
	}
	if nnp == 1 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("seccomp: load: capget: %w", err)
	}
	if data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0 {
		return nil
	}
	return fmt.Errorf("seccomp: load: %w", ErrNoNewPrivs)
}

func load(raw []bpf.RawInstruction, flags uint) error {
	// The checks and seccomp(2) must see the same thread's credentials.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := mayLoad(); err != nil {
		return err
	}
	prog := unix.SockFprog{
		Len:    uint16(len(raw)),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0])),
	}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		uintptr(flags|flagTSYNC), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(raw)
	if errno != 0 {
		return fmt.Errorf("seccomp: load: seccomp(SECCOMP_SET_MODE_FILTER, %#x): %w", flags|flagTSYNC, errno)
	}
	if r != 0 {
		return &TSyncError{TID: int(r)}
	}
	return nil
}
