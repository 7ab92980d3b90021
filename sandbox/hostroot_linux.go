package sandbox

import (
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
	st, ok := ownUserNS()
	from := "PIDFD_GET_USER_NAMESPACE"
	if !ok {
		var fs unix.Statfs_t
		ok = unix.Statfs("/proc/self/ns/user", &fs) == nil && fs.Type == unix.NSFS_MAGIC && unix.Stat("/proc/self/ns/user", &st) == nil
		from = "/proc/self/ns/user"
	}
	if !ok {
		zero := uint32(0)
		return RootIDs{UID: &zero, GID: &zero, From: "unknown (taken as 0)"}
	}
	uidMap, uidErr := os.ReadFile("/proc/self/uid_map")
	gidMap, gidErr := os.ReadFile("/proc/self/gid_map")
	return RootIDs{
		UID:  rootID(st.Uid, overflowID("overflowuid"), os.Geteuid(), uidMap, uidErr),
		GID:  rootID(st.Gid, overflowID("overflowgid"), os.Getegid(), gidMap, gidErr),
		From: from,
	}
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
