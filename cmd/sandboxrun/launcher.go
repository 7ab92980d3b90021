package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// protectLauncher makes sandboxrun non-dumpable once the sandbox has
// started (not before: the child inherits the flag until its own execve,
// and a non-dumpable child could not open /proc/self/exe or
// /proc/self/fd/N to re-execute itself).
// A sandbox that shares its pid namespace (the mpi preset, --share pid)
// runs with sandboxrun's uid, or is root; the kernel then lets it ptrace
// sandboxrun, read and write its memory through process_vm_readv/writev
// (which the mpi preset allows) or /proc/PID/mem, take its descriptors
// with pidfd_getfd and follow /proc/PID/exe, unless sandboxrun is not
// dumpable: then every one of these needs CAP_SYS_PTRACE in sandboxrun's
// user namespace, which no sandbox has. The launcher guard of package fork
// (a Landlock signal scope and a seccomp prefix) keeps signals out; this
// holds also where the kernel has no Landlock (for the instants between
// the start and this call, the seccomp guard refuses ptrace and
// process_vm_* aimed at sandboxrun as well). Core dumps of sandboxrun
// itself are lost, which a launcher can spare.
func protectLauncher() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		var e syscall.Errno
		errors.As(err, &e)
		return fmt.Errorf("launcher: prctl PR_SET_DUMPABLE 0: %s", errnoText(e))
	}
	return nil
}

// readonlyLauncher adds sandboxrun's own binary to the sandbox's
// read-only paths when the sandbox sees the host's file system (a mount
// namespace of its own and no --rootfs), as in the mpi preset, whose
// home directories stay writable: the sandbox can then neither write the
// binary nor rename another file over it (a mount point cannot be
// replaced), whoever owns it, so the next launch runs what was installed.
func readonlyLauncher(o *sandbox.Options) {
	if !o.NewNamespace(specs.MountNamespace) || (o.Root != nil && o.Root.Path != "") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	if !slices.Contains(o.ReadonlyPaths, exe) {
		o.ReadonlyPaths = append(o.ReadonlyPaths, exe)
	}
}
