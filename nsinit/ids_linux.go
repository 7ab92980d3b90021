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
	if gid := int(o.User.GID); !holds(gid, unix.Getresgid, "overflowgid") {
		if err := syscall.Setgid(gid); err != nil {
			return fail("ids", fmt.Sprintf("setgid %d", gid), "", err)
		}
	}
	if uid := int(o.User.UID); !holds(uid, unix.Getresuid, "overflowuid") {
		if err := syscall.Setuid(uid); err != nil {
			return fail("ids", fmt.Sprintf("setuid %d", uid), "", err)
		}
	}
	return nil
}

// holds reports whether the real, effective and saved ids (getres) are id
// already, so that the change can be skipped. The kernel's overflow id
// (/proc/sys/kernel/overflowuid, overflowgid: 65534 by default) proves
// nothing: it is also what a process whose host id its namespace does not
// map reads. A rootless start through newuidmap whose maps leave the
// caller's own ids out comes here so, with the caller's host ids: taking
// "65534" for done left the sandbox those. Where the overflow id cannot
// be read, the change is made.
func holds(id int, getres func() (int, int, int), overflow string) bool {
	r, e, s := getres()
	if r != id || e != id || s != id {
		return false
	}
	b, err := os.ReadFile("/proc/sys/kernel/" + overflow)
	if err != nil {
		return false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && v != id
}

// setgroupsAllowed is false in a user namespace whose setgroups is "deny".
func setgroupsAllowed() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || !bytes.HasPrefix(b, []byte("deny"))
}
