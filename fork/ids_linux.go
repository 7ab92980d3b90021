package fork

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// The parent's half of the ids (the child's is nsinit/ids_linux.go): the
// id maps written at the start (by the syscall package, or by the
// setuid helpers newuidmap and newgidmap afterwards), and setgroups.

// setgroupsEnabled says whether the child's user namespace keeps
// setgroups allowed: only host root keeps it (sandbox.RootInInitialUserNS).
// A user must write "deny" to /proc/<pid>/setgroups before the gid map;
// root of another user namespace writes it too (a namespace whose own
// setgroups is "deny", as `unshare -r` makes, passes that on anyway).
// Where it is denied, sandbox's Validate refuses additional gids and the
// child's ids step leaves the groups alone.
func setgroupsEnabled() bool { return sandbox.RootInInitialUserNS() }

func toSysMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

func mapsZero(m []specs.LinuxIDMapping) bool {
	for _, e := range m {
		if e.ContainerID == 0 {
			return true
		}
	}
	return false
}

func runMapHelper(tool string, pid int, m []specs.LinuxIDMapping) error {
	args := []string{strconv.Itoa(pid)}
	for _, e := range m {
		args = append(args, strconv.FormatUint(uint64(e.ContainerID), 10), strconv.FormatUint(uint64(e.HostID), 10), strconv.FormatUint(uint64(e.Size), 10))
	}
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		return &SetupError{Step: "idmap", Op: fmt.Sprintf("%s for pid %d with %d ranges", tool, pid, len(m)),
			Err: fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))}
	}
	return nil
}
