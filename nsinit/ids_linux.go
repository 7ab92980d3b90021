package nsinit

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepIDs sets the umask, then switches groups, gid and uid on every
// thread (the syscall package's Setuid family is process-wide), keeping
// the permitted set across the uid change when capabilities are asked for
// (stepCapabilities then sets it exactly).
//
// Setgroups: the parent writes "deny" to /proc/<pid>/setgroups before the
// gid map where the kernel demands it (fork/ids_linux.go), sandbox's
// Validate refuses additional gids there, and this step leaves the groups
// alone where setgroups is denied.
func stepIDs(o *sandbox.Options, _ Config, _ *Applied) error {
	if o.User.Umask != nil {
		unix.Umask(int(*o.User.Umask))
	}
	if wantCaps(o) && o.User.UID != 0 {
		if err := allThreadsPrctl("prctl PR_SET_KEEPCAPS", unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
			return err
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
	if gid := int(o.User.GID); !holds(gid, unix.Getresgid, overflowIDs[1]) {
		if err := syscall.Setgid(gid); err != nil {
			return fail("ids", fmt.Sprintf("setgid %d", gid), "", err)
		}
	}
	if uid := int(o.User.UID); !holds(uid, unix.Getresuid, overflowIDs[0]) {
		if err := syscall.Setuid(uid); err != nil {
			return fail("ids", fmt.Sprintf("setuid %d", uid), "", err)
		}
	}
	return nil
}

// holds reports whether the real, effective and saved ids (getres) are id
// already, so that the change can be skipped. The kernel's overflow id
// (overflow: /proc/sys/kernel/overflowuid or overflowgid, 65534 by
// default) proves nothing: it is also what a process whose host id its
// namespace does not map reads. A rootless start through newuidmap whose
// maps leave the caller's own ids out comes here so, with the caller's
// host ids: taking "65534" for done left the sandbox those. Where the
// overflow id is not known (-1), the change is made.
func holds(id int, getres func() (int, int, int), overflow int) bool {
	r, e, s := getres()
	return r == id && e == id && s == id && overflow >= 0 && overflow != id
}

// overflowIDs are the kernel's overflow uid and gid, -1 where unknown.
// Setup reads them before the mount step, from the caller's /proc: by the
// ids step the sandbox's root file system may have put anything at that
// path.
var overflowIDs = [2]int{-1, -1}

// readOverflowIDs fills overflowIDs for a sandbox whose ids the ids step
// sets.
func readOverflowIDs(o *sandbox.Options) {
	if o == nil || !o.AppliesUser() {
		return
	}
	for i, name := range []string{"overflowuid", "overflowgid"} {
		if b, err := os.ReadFile("/proc/sys/kernel/" + name); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v >= 0 {
				overflowIDs[i] = v
			}
		}
	}
}

// setgroupsAllowed is false in a user namespace whose setgroups is "deny".
func setgroupsAllowed() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || !bytes.HasPrefix(b, []byte("deny"))
}
