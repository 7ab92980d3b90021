package nsinit

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"

	"github.com/nsfork/nsfork/sandbox"
)

// psxUsable: in a cgo build libpsx lists /proc/<getpid()>/task to find
// the threads to change; with a new pid namespace and the host's /proc
// that is another process's directory, and libpsx would wait forever.
func psxUsable(op string) error {
	if !cgoBuild {
		return nil
	}
	link, err := os.Readlink("/proc/self")
	if err == nil && link == strconv.Itoa(os.Getpid()) {
		// The listing libpsx opens by path must be a procfs's now (it
		// is opened again by path, so stepThreadsCheck checks the
		// outcome too).
		f, err := openProc("/proc/"+link+"/task", unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fail("capabilities", op, "/proc/"+link+"/task", err)
		}
		f.Close()
		return nil
	}
	return fail("capabilities", op, "/proc", fmt.Errorf("%w: in a cgo build per-thread settings go through libpsx, which needs a /proc of this pid namespace: add a mount namespace (a new /proc is mounted then) or build with CGO_ENABLED=0", ErrUnsupported))
}

// allThreadsPrctl runs prctl on every OS thread of the process.
func allThreadsPrctl(op string, option, arg2, arg3 uintptr) error {
	if err := psxUsable(op); err != nil {
		return err
	}
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, option, arg2, arg3, 0, 0, 0); e != 0 {
		return fail("capabilities", op, "", e)
	}
	return nil
}

// dropBounding drops c from the bounding set of this thread (exec: see
// Config.Exec) or of every thread.
func dropBounding(exec bool, c capability.Cap) error {
	op := fmt.Sprintf("prctl PR_CAPBSET_DROP %s", c)
	if !exec {
		return allThreadsPrctl(op, unix.PR_CAPBSET_DROP, uintptr(c), 0)
	}
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
		return fail("capabilities", op, "", err)
	}
	return nil
}

func wantCaps(o *sandbox.Options) bool { return o.Capabilities != nil }

// stepIDs drops the bounding set (it needs CAP_SETPCAP, which the id change
// may take away), then switches groups, gid and uid on every thread (the
// syscall package's Setuid family is process-wide), keeping the permitted
// set across the uid change when capabilities are asked for.
func stepIDs(o *sandbox.Options, cfg Config, _ *Applied) error {
	if o.User.Umask != nil {
		unix.Umask(int(*o.User.Umask))
	}
	if wantCaps(o) {
		bset, err := capSet(o.Capabilities.Bounding)
		if err != nil {
			return fail("capabilities", "bounding set", "", err)
		}
		// The parent may have dropped some already on the thread it
		// started us from (all our threads inherit that); drop the rest.
		have := ownStatus().capBnd
		last, _ := capability.LastCap()
		for c := capability.Cap(0); c <= last; c++ {
			if bset&(1<<c) != 0 || have&(1<<c) == 0 {
				continue
			}
			if err := dropBounding(cfg.Exec, c); err != nil {
				return err
			}
		}
		if o.User.UID != 0 {
			if err := allThreadsPrctl("prctl PR_SET_KEEPCAPS", unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
				return err
			}
		}
	}
	if !o.AppliesUser() {
		return nil
	}
	gids := make([]int, len(o.User.AdditionalGids))
	for i, g := range o.User.AdditionalGids {
		gids[i] = int(g)
	}
	if len(gids) > 0 || setgroupsAllowed() {
		if err := syscall.Setgroups(gids); err != nil {
			return fail("ids", fmt.Sprintf("setgroups %v", gids), "", err)
		}
	}
	if gid := int(o.User.GID); gid != unix.Getgid() || gid != unix.Getegid() {
		if err := syscall.Setgid(gid); err != nil {
			return fail("ids", fmt.Sprintf("setgid %d", gid), "", err)
		}
	}
	if uid := int(o.User.UID); uid != unix.Getuid() || uid != unix.Geteuid() {
		if err := syscall.Setuid(uid); err != nil {
			return fail("ids", fmt.Sprintf("setuid %d", uid), "", err)
		}
	}
	return nil
}

// setgroupsAllowed is false in a user namespace whose setgroups is "deny".
func setgroupsAllowed() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || !bytes.HasPrefix(b, []byte("deny"))
}

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
func stepCapabilities(o *sandbox.Options, _ Config, a *Applied) error {
	if ownStatus().capAmb != 0 {
		if err := allThreadsPrctl("prctl PR_CAP_AMBIENT_CLEAR_ALL", unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
			return err
		}
	}
	if !wantCaps(o) {
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
	_, _, e := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
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

func stepNoNewPrivs(o *sandbox.Options, _ Config, a *Applied) error {
	if !o.NoNewPrivileges {
		return nil
	}
	if ownStatus().noNewPrivs {
		// Inherited from the parent's starting thread, so on every thread.
		a.NoNewPrivileges = true
		return nil
	}
	if err := psxUsable("prctl PR_SET_NO_NEW_PRIVS"); err != nil {
		return err
	}
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fail("no_new_privs", "prctl PR_SET_NO_NEW_PRIVS", "", e)
	}
	a.NoNewPrivileges = true
	return nil
}

type threadStatus struct {
	capBnd, capAmb uint64
	noNewPrivs     bool
}

// ownStatus reads this thread's bounding and ambient sets and
// no_new_privs. All threads of the child share them until Setup changes
// them, so this thread speaks for all. When /proc cannot be read it reports
// everything set, so that nothing is skipped.
func ownStatus() threadStatus {
	st := threadStatus{capBnd: ^uint64(0), capAmb: ^uint64(0)}
	// Through a descriptor checked to be on a procfs: a stand-in's fake
	// status saying "already done" would make Setup skip the bounding
	// set, the ambient set and no_new_privs.
	m, err := readProcStatus(nil, "/proc/thread-self/status")
	if err != nil {
		return st
	}
	if v, ok := m["CapBnd"]; ok {
		st.capBnd, _ = strconv.ParseUint(v, 16, 64)
	}
	if v, ok := m["CapAmb"]; ok {
		st.capAmb, _ = strconv.ParseUint(v, 16, 64)
	}
	st.noNewPrivs = m["NoNewPrivs"] == "1"
	return st
}
