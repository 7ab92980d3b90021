package nsinit

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/sandbox"
)

// wantCaps: the options set the capability sets (nil: they are left as
// the start gave them, but the ambient set is cleared).
func wantCaps(o *sandbox.Options) bool { return o.Capabilities != nil }

func capSet(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		c, err := sandbox.CapabilityValue(n)
		if err != nil {
			return 0, err
		}
		m |= 1 << uint(c)
	}
	return m, nil
}

type capHeader struct {
	version uint32
	pid     int32
}

type capData struct {
	effective, permitted, inheritable uint32
}

// stepCapabilities sets the effective, permitted and inheritable sets and
// the ambient set exactly, on every thread. Without Capabilities in the
// options only the ambient set is cleared (the launcher may have raised it
// to carry capabilities across the exec into a user namespace).
func stepCapabilities(o *sandbox.Options, cfg Config, a *Applied) error {
	if ownStatus().capAmb != 0 {
		if err := allThreadsPrctl("prctl PR_CAP_AMBIENT_CLEAR_ALL", unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
			return err
		}
	}
	if !wantCaps(o) {
		if cfg.CarriedCaps {
			return clearInheritable()
		}
		return nil
	}
	c := o.Capabilities
	var sets [4]uint64
	for i, names := range [][]string{c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
		m, err := capSet(names)
		if err != nil {
			return fail("capabilities", "names", "", err)
		}
		sets[i] = m
	}
	if err := psxUsable("capset"); err != nil {
		return err
	}
	hdr := capHeader{version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]capData
	for i := range 2 {
		data[i].effective = uint32(sets[0] >> (32 * i))
		data[i].permitted = uint32(sets[1] >> (32 * i))
		data[i].inheritable = uint32(sets[2] >> (32 * i))
	}
	_, _, e := allthreads.Syscall6(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0, 0, 0, 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if e != 0 {
		return fail("capabilities", fmt.Sprintf("capset effective=%#x permitted=%#x inheritable=%#x", sets[0], sets[1], sets[2]), "", e)
	}
	for bit := uint(0); bit < 64; bit++ {
		if sets[3]&(1<<bit) == 0 {
			continue
		}
		if err := allThreadsPrctl(fmt.Sprintf("prctl PR_CAP_AMBIENT_RAISE %s", capability.Cap(bit)), unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(bit)); err != nil {
			return err
		}
	}
	if o.User.UID != 0 {
		if err := allThreadsPrctl("prctl PR_SET_KEEPCAPS 0", unix.PR_SET_KEEPCAPS, 0, 0); err != nil {
			return err
		}
	}
	a.Capabilities = map[string]string{
		"effective": fmt.Sprintf("%#x", sets[0]), "permitted": fmt.Sprintf("%#x", sets[1]),
		"inheritable": fmt.Sprintf("%#x", sets[2]), "ambient": fmt.Sprintf("%#x", sets[3]),
	}
	return nil
}

// clearInheritable empties the inheritable set on every thread, keeping
// the effective and permitted sets: what a start that carried the
// capabilities over the exec raised (Config.CarriedCaps), where a start
// with the maps before the exec leaves the caller's, which the fork
// package then knows to be empty.
func clearInheritable() error {
	const op = "capset inheritable 0"
	if err := psxUsable(op); err != nil {
		return err
	}
	hdr := capHeader{version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]capData
	if _, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fail("capabilities", "capget", "", e)
	}
	data[0].inheritable, data[1].inheritable = 0, 0
	_, _, e := allthreads.Syscall6(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0, 0, 0, 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if e != 0 {
		return fail("capabilities", op+" on every thread", "", e)
	}
	return nil
}
