package sandbox

import (
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// initUserNSIno is the inode number of the initial user namespace
// (PROC_USER_INIT_INO in the kernel's include/linux/proc_ns.h).
const initUserNSIno = 0xEFFFFFFD

var inInitialUserNS = sync.OnceValue(func() bool {
	return initialUserNS("/proc/self/ns/user", "/proc/self/uid_map")
})

func rootInInitialUserNS() bool { return os.Geteuid() == 0 && inInitialUserNS() }

// initialUserNS reports whether nsPath (a /proc/PID/ns/user) is the
// initial user namespace, from its inode when it is an nsfs file, else
// from uidMapPath (the same process's uid_map).
func initialUserNS(nsPath, uidMapPath string) bool {
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Statfs(nsPath, &fs) == nil && fs.Type == unix.NSFS_MAGIC && unix.Stat(nsPath, &st) == nil {
		return st.Ino == initUserNSIno
	}
	b, err := os.ReadFile(uidMapPath)
	return err == nil && fullIDMap(b)
}

// fullIDMap reports whether the content of a uid_map or gid_map file
// maps the whole id range onto itself, as the initial namespace's does.
func fullIDMap(b []byte) bool {
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}
