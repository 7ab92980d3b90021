package cgroups

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to
// expected_attach_type; the kernel takes a shorter attr as zero-filled.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// bpfProgAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type bpfProgAttachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// attachDeviceFilter loads p as a BPF_PROG_TYPE_CGROUP_DEVICE program and
// attaches it to the cgroup v2 directory cgroupFD with BPF_F_ALLOW_MULTI,
// so filters of the cgroups above still apply. The attachment holds the
// program until the cgroup is removed; the program's descriptor is closed
// before returning. The verifier's log is part of a load error.
func attachDeviceFilter(p []insn, cgroupFD int) error {
	code := encodeInsns(p)
	license := []byte("GPL\x00")
	load := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(p)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(load.progName[:], "nsfork_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&load), unsafe.Sizeof(load))
	if err != nil {
		// Again with the verifier's log, to say why.
		logBuf := make([]byte, 64<<10)
		load.logLevel, load.logSize = 1, uint32(len(logBuf))
		load.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		if fd2, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&load), unsafe.Sizeof(load)); err2 == nil {
			unix.Close(int(fd2))
		}
		runtime.KeepAlive(logBuf)
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		if n := indexNUL(logBuf); n > 0 {
			return fmt.Errorf("bpf(BPF_PROG_LOAD): %w (verifier: %s)", err, logBuf[:n])
		}
		return fmt.Errorf("bpf(BPF_PROG_LOAD): %w", err)
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	defer unix.Close(int(fd))
	attach := bpfProgAttachAttr{
		targetFD:    uint32(cgroupFD),
		attachBPFFD: uint32(fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI): %w", err)
	}
	return nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}
