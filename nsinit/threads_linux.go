package nsinit

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/sandbox"
)

// Capabilities, the bounding set, securebits and no_new_privs are per
// thread in Linux, and a Go process runs several threads before Setup
// starts. The steps change them on every thread at once through
// internal/allthreads (syscall.AllThreadsSyscall when cgo is off, libpsx
// when it is on and the program imports github.com/nsfork/nsfork/psx),
// and stepThreadsCheck checks the outcome where psx relies on /proc.

// AllThreadsStep names the first step of o's setup that changes every
// thread, or returns "" when there is none. The parent refuses o with it
// before the start when no such change is possible (allthreads.Available:
// a cgo build without github.com/nsfork/nsfork/psx). exec: command mode
// (Config.Exec); ambient: the child starts with ambient capabilities,
// which the capabilities step clears. (no_new_privs is set by the parent
// on the thread that starts the child, so every thread has it.)
func AllThreadsStep(o *sandbox.Options, exec, ambient bool) (step, op string) {
	switch {
	case wantCaps(o):
		return "capabilities", "capset"
	case ambient:
		return "capabilities", "prctl PR_CAP_AMBIENT_CLEAR_ALL"
	case !exec && LateNamespaces(o) != 0:
		return "late namespaces", "setns"
	case o.Landlock != nil:
		return "landlock", "restrict paths"
	}
	return "", ""
}

// psxUsable fails when no change of every thread is possible (a cgo build
// without package psx). And in a cgo build libpsx lists
// /proc/<getpid()>/task to find the threads to change; with a new pid
// namespace and the host's /proc that is another process's directory, and
// libpsx would wait forever.
func psxUsable(op string) error {
	if err := allthreads.Available(); err != nil {
		return fail("capabilities", op, "", fmt.Errorf("%w: %w", ErrUnsupported, err))
	}
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
	if _, _, e := allthreads.Syscall6(unix.SYS_PRCTL, option, arg2, arg3, 0, 0, 0); e != 0 {
		return fail("capabilities", op, "", e)
	}
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

// threadFields are the per-thread credentials every thread must share
// once Setup has changed them through psx.
var threadFields = []string{"Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"}

// stepThreadsCheck, in a cgo build, checks that every thread of the
// process has this thread's credentials, capability sets and
// no_new_privs. libpsx finds the threads to change by listing
// /proc/<pid>/task by path; a stand-in listing fewer threads would leave
// some unchanged, so the result is checked here through a procfs
// descriptor, and any difference fails the setup. (Without cgo psx is the
// kernel's AllThreadsSyscall, which needs no /proc.)
//
// In command mode the bounding set is dropped on the exec'ing thread only
// (Config.Exec), so it is not compared there.
func stepThreadsCheck(_ *sandbox.Options, cfg Config, _ *Applied) error {
	if !cgoBuild {
		return nil
	}
	fields := threadFields
	if cfg.Exec {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == "CapBnd" })
	}
	return checkThreads("/proc/self/task", fields)
}

func checkThreads(taskDir string, fields []string) error {
	self, err := readProcStatus(nil, "/proc/thread-self/status")
	if err != nil {
		return fail("capabilities", "read this thread's status", "/proc/thread-self/status", err)
	}
	dir, err := openProc(taskDir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fail("capabilities", "open the thread list", taskDir, err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fail("capabilities", "list threads", taskDir, err)
	}
	for _, n := range names {
		if _, err := strconv.Atoi(n); err != nil {
			continue
		}
		st, err := readProcStatus(dir, n+"/status")
		if err != nil {
			continue // the thread is gone
		}
		for _, f := range fields {
			if st[f] != self[f] {
				return fail("capabilities", "check every thread", taskDir+"/"+n, fmt.Errorf("%w: thread %s has %s %q, this thread %q (a thread psx did not reach)", unix.EPERM, n, f, st[f], self[f]))
			}
		}
	}
	return nil
}
