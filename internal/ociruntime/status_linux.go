package ociruntime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat returns the state letter and the start time of pid.
func procStat(pid int) (byte, uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The name may hold spaces and parentheses: the fields follow the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return f[0][0], st, nil
}

// Identify returns pid with its start time.
func Identify(pid int) (Proc, error) {
	_, st, err := procStat(pid)
	if err != nil {
		return Proc{}, err
	}
	return Proc{Pid: pid, Start: st}, nil
}

// Alive reports whether the process still runs: the pid exists, was started
// at the recorded time (it is not a reused pid), and is no zombie.
func (p Proc) Alive() bool {
	if p.Pid <= 0 {
		return false
	}
	state, st, err := procStat(p.Pid)
	return err == nil && st == p.Start && state != 'Z' && state != 'X'
}

// Status derives the container's status from its processes: "stopped" once
// its init is gone (whatever was recorded), "created" until start released
// it, "running" after, and "creating" while create has not finished.
func (rec *Record) Status() string {
	switch {
	case rec.Init.Pid == 0 && rec.Monitor.Alive():
		return StatusCreating
	case !rec.Init.Alive():
		return StatusStopped
	case !rec.Started:
		return StatusCreated
	}
	return StatusRunning
}

// NamespacePids lists the processes in the pid namespace of init, when
// that namespace is not the caller's own (for a container without a
// cgroup of its own); nil otherwise.
func NamespacePids(init Proc) []int {
	if !init.Alive() {
		return nil
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(init.Pid) + "/ns/pid")
	if err != nil {
		return nil
	}
	if own, err := os.Readlink("/proc/self/ns/pid"); err != nil || own == ns {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}
