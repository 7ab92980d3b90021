package sandbox

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var hostRootIDsOnce = sync.OnceValue(detectHostRootIDs)

func hostRootIDs() RootIDs { return hostRootIDsOnce() }

// detectHostRootIDs reads the owner of the caller's user namespace file
// (see HostRootIDs).
func detectHostRootIDs() RootIDs {
	st, from, ok := userNSOwner()
	if !ok {
		zero := uint32(0)
		return RootIDs{UID: &zero, GID: &zero, From: "unknown (taken as 0)"}
	}
	file := func(name string) func() ([]byte, error) { return func() ([]byte, error) { return os.ReadFile(name) } }
	return RootIDs{
		UID:  rootID(st.Uid, func() uint32 { return overflowID("overflowuid") }, os.Geteuid(), file("/proc/self/uid_map"), ownsOrCannotTell, true),
		GID:  rootID(st.Gid, func() uint32 { return overflowID("overflowgid") }, os.Getegid(), file("/proc/self/gid_map"), ownsUserNS, false),
		From: from,
	}
}

// userNSOwner stats the caller's user namespace file: the one a pidfd of
// its own hands out, else (before Linux 6.11) procUserNS.
func userNSOwner() (st unix.Stat_t, from string, ok bool) {
	if st, ok = ownUserNSOnce(); ok {
		return st, "PIDFD_GET_USER_NAMESPACE", true
	}
	st, ok = procUserNS()
	return st, "/proc/self/ns/user", ok
}

// procUserNS stats /proc/self/ns/user if it is an nsfs file.
func procUserNS() (st unix.Stat_t, ok bool) {
	var fs unix.Statfs_t
	ok = unix.Statfs("/proc/self/ns/user", &fs) == nil && fs.Type == unix.NSFS_MAGIC && unix.Stat("/proc/self/ns/user", &st) == nil
	return st, ok
}

// overflowID is /proc/sys/kernel/overflowuid or overflowgid, the id the
// kernel shows for one a namespace does not map (65534 by default).
func overflowID(name string) uint32 {
	b, err := os.ReadFile("/proc/sys/kernel/" + name)
	if err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			return uint32(v)
		}
	}
	return 65534
}

// ownsOrCannotTell is ownsUserNS for uids, failing closed where the
// owner test cannot answer: for a caller without CAP_FOWNER (effective)
// that holds CAP_SETUID, a failed test says only that its own uid is not
// host root's, yet it could make its sandbox any uid of its namespace.
func ownsOrCannotTell() bool {
	if ownsUserNS() {
		return true
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	return !hasCap(b, "CapEff:", unix.CAP_FOWNER) && (hasCap(b, "CapEff:", unix.CAP_SETUID) || hasCap(b, "CapPrm:", unix.CAP_SETUID))
}

// ownsUserNS reports whether the kernel lets the caller open its user
// namespace file with O_NOATIME, which it allows only the file's owner
// (host root: the caller's fsuid is host uid 0) or a holder of CAP_FOWNER
// in a namespace that maps the owner's uid (host root's; its gid is not
// asked: inode_owner_or_capable). The
// file is /proc/self/ns/user opened O_PATH, checked to be the namespace a
// pidfd of the caller's own names (where the kernel has the ioctl), then
// reopened, once plainly (which must work) and once O_NOATIME. Only EPERM
// from the second says no; anything else says yes (fail closed).
func ownsUserNS() bool {
	path, err := unix.Open("/proc/self/ns/user", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(path)
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Fstatfs(path, &fs) != nil || fs.Type != unix.NSFS_MAGIC || unix.Fstat(path, &st) != nil {
		return true
	}
	if own, ok := ownUserNSOnce(); ok && (own.Ino != st.Ino || own.Dev != st.Dev) {
		return true
	}
	reopen := "/proc/self/fd/" + strconv.Itoa(path)
	// The control: an open without O_NOATIME must succeed, else the EPERM
	// below might be a filter's or an LSM's, not the owner test's.
	fd, err := unix.Open(reopen, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	unix.Close(fd)
	fd, err = unix.Open(reopen, unix.O_RDONLY|unix.O_NOATIME|unix.O_CLOEXEC, 0)
	if err != nil {
		return !errors.Is(err, unix.EPERM)
	}
	unix.Close(fd)
	return true
}
