// Package pidsig signals the processes a listing names (a cgroup's
// cgroup.procs, a pid namespace's members) without ever reaching a
// process the listing did not name: a listed pid may exit and be taken by
// another process before the signal.
package pidsig

import "golang.org/x/sys/unix"

// Listed sends sig to the processes list names and returns how many it
// reached. Each listed pid is first pinned with a pidfd, then the
// listing is taken again: a pid still listed then, whose pidfd's process
// was not reaped before the signal, was held by that very process when
// the second listing named it (a pid is reused only once its process was
// reaped), so the signal, sent through the pidfd, reaches a member of the
// listing and nothing else. A process that left the listing meanwhile,
// or a pid taken by another process, is skipped; a process that ends
// before its signal counts as not reached.
func Listed(list func() []int, sig unix.Signal) int {
	pinned := map[int]int{}
	defer func() {
		for _, fd := range pinned {
			unix.Close(fd)
		}
	}()
	for _, pid := range list() {
		if _, ok := pinned[pid]; ok || pid <= 0 {
			continue
		}
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			pinned[pid] = fd
		}
	}
	if len(pinned) == 0 {
		return 0
	}
	reached := 0
	for _, pid := range list() {
		fd, ok := pinned[pid]
		if !ok {
			continue
		}
		delete(pinned, pid)
		if unix.PidfdSendSignal(fd, sig, nil, 0) == nil {
			reached++
		}
		unix.Close(fd)
	}
	return reached
}
