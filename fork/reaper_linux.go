package fork

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/earlysig"
	"github.com/nsfork/nsfork/internal/forkchild"
)

// startReaper makes the child a proper pid 1: orphans that the kernel
// re-parents to it are reaped, so no zombie piles up while the function
// runs. Children the function started itself through os/exec are left alone:
// os/exec holds a pidfd for each of them until its Wait, and the reaper never
// takes a zombie that a pidfd of this process refers to, so their exit status
// is never stolen.
func startReaper() {
	ch := earlyReaper.Channel(syscall.SIGCHLD)
	go func() {
		for range ch {
			reapOrphans()
		}
	}()
	reapOrphans() // any that died before Notify
}

// earlyReaper is SIGCHLD's registration for the reaper, started with the
// setup (child) when the child is a pid 1.
var earlyReaper earlysig.Set

// siginfoPid reads si_pid, which sits after three int32s and a pad.
func siginfoPid(info *unix.Siginfo) int32 {
	return *(*int32)(unsafe.Add(unsafe.Pointer(info), 16))
}

// procIsOurs reports whether /proc shows this pid namespace: pids read
// from it are then pids waitid understands.
func procIsOurs() bool {
	link, err := os.Readlink("/proc/self")
	return err == nil && link == strconv.Itoa(os.Getpid())
}

// ownedPids lists the pids that pidfds of this process refer to.
func ownedPids() map[int]bool {
	if !procIsOurs() {
		return nil
	}
	owned := map[int]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || link != "anon_inode:[pidfd]" {
			continue
		}
		data, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Pid:"); ok {
				if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					owned[pid] = true
				}
			}
		}
	}
	return owned
}

func reapOrphans() {
	var owned map[int]bool
	skipped := map[int]bool{}
	for {
		var info unix.Siginfo
		// Look without reaping: which child is a zombie?
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err != nil {
			return
		}
		pid := int(siginfoPid(&info))
		if pid == 0 {
			return // none
		}
		if owned == nil || !owned[pid] {
			// Looked at after the zombie was seen: a child os/exec started
			// has had its pidfd since its clone, so a fresh list cannot
			// miss it.
			owned = ownedPids()
			if owned == nil {
				return // cannot tell: reap nothing rather than steal
			}
		}
		if owned[pid] || skipped[pid] {
			// The one the kernel shows first is owned: reap the others by
			// pid, then stop.
			reapListed()
			return
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		skipped[pid] = true
	}
}

// reapListed reaps zombie children that no pidfd of ours refers to, found through
// /proc/self/task/*/children.
func reapListed() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		data, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil || !forkchild.IsZombie(pid) || ownedPids()[pid] {
				continue
			}
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}
