package fork

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/allthreads"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// A start into a new user namespace with the id maps written after the
// exec, so that the start shares this process's address space.
//
// The syscall package starts a child with CLONE_VM|CLONE_VFORK (the child
// borrows the caller's memory until its exec) except when it has to write
// the child's id maps itself: the child then waits for them before its
// exec, which a caller suspended by CLONE_VFORK could never write, so the
// start is a fork. A fork copies the caller's page tables (the more memory
// the caller has, the longer) and leaves every page of the caller
// copy-on-write: each page the caller writes afterwards takes a fault
// (docs/speed.md, "A start without a fork").
//
// Here the child is cloned with CLONE_VM|CLONE_VFORK and its new user
// namespace, and execs with no maps yet: the kernel then sees it as no user
// of that namespace, so the capabilities it has there would be lost at the
// exec; they are carried over it in the ambient set, as for the maps the
// setuid helpers write. Once the start returns, the parent writes uid_map,
// setgroups and gid_map (writeIDMaps), and only then sends the request,
// which the child waits for before it does anything else. The child then
// becomes root of the namespace where the maps do not make it so already
// (afterMaps; what syscall.Credential did before the exec); nsinit's
// capability step clears the ambient set, and the inheritable set the
// carry raised, and sets the others from the options, as on every start.
//
// Until the maps are written the child's ids are unmapped: its Go runtime
// and the package initialisation of its program run as the overflow id
// inside (what os.Getuid returns there), with the caller's host ids. No
// code of the sandbox's runs before afterMaps.
//
// Not used (the fork stays) when the sandbox runs as a host user's ids
// (they are set before the exec, with the capabilities carried), when the
// caller's own SysProcAttr asks for ids or maps before the exec, and when
// the process cannot change every thread (a cgo build without package
// psx: the ambient set could not be cleared), and, in a cgo build, when
// the child has a pid namespace of its own but no mount namespace (libpsx
// would find no /proc of its pid namespace to clear the carried sets
// with). Maps that go through
// newuidmap/newgidmap are written after the exec already; such a start
// loses only its fork.

// mapsAfterStart switches the start described above on; the tests turn it
// off to compare with the fork.
var mapsAfterStart = true

// planMapsAfter decides whether this start writes the maps after the exec:
// for a new user namespace whose maps the syscall package would have
// written, unless the caller's own SysProcAttr (Config.SysProcAttr) asks
// the syscall package for ids or maps before the exec, which a start
// suspending the caller until the exec cannot give.
func (p *isolation) planMapsAfter(own *syscall.SysProcAttr) {
	if !mapsAfterStart || allthreads.Available() != nil || p.cloneflags&unix.CLONE_NEWUSER == 0 {
		return
	}
	if own != nil && (own.Credential != nil || own.UidMappings != nil || own.GidMappings != nil || own.Unshareflags&unix.CLONE_NEWUSER != 0) {
		return
	}
	if p.helper {
		// newuidmap's maps come after the exec already: only the fork
		// goes.
		p.vfork = true
		return
	}
	root := false
	switch c := p.credential; {
	case c == nil:
	case c.Uid == 0 && c.Gid == 0:
		root = true
	default:
		return
	}
	if p.opts.Capabilities == nil && !callerInheritableEmpty() {
		return // the child could not know what to restore
	}
	if nsinit.ThreadsThroughProc && p.cloneflags&unix.CLONE_NEWNS == 0 && p.otherPIDNamespace() {
		// The carried sets are cleared on every thread through libpsx,
		// which needs a /proc of the child's pid namespace: without a
		// mount namespace there is none, and the clear would fail where
		// the fork start, carrying nothing, runs.
		return
	}
	p.mapsAfter, p.rootAfter, p.vfork = true, root, true
	p.credential = nil
	p.ambient = allCaps()
}

// otherPIDNamespace reports whether the child runs in a pid namespace
// other than the caller's (a new one or one it joins).
func (p *isolation) otherPIDNamespace() bool {
	if p.cloneflags&unix.CLONE_NEWPID != 0 {
		return true
	}
	for _, ns := range p.joins {
		if ns.Type == specs.PIDNamespace {
			return true
		}
	}
	return false
}

// writeIDMaps writes the child's id maps as the syscall package would have
// between its clone and its exec: uid_map, then setgroups ("deny" where the
// kernel demands it before a gid map, see setgroupsEnabled), then gid_map.
func writeIDMaps(pid int, uids, gids []syscall.SysProcIDMap, setgroups bool) error {
	sg := "deny"
	if setgroups {
		sg = "allow"
	}
	for _, w := range []struct{ file, data string }{
		{"uid_map", formatIDMap(uids)},
		{"setgroups", sg},
		{"gid_map", formatIDMap(gids)},
	} {
		path := "/proc/" + strconv.Itoa(pid) + "/" + w.file
		if err := writeProcFile(path, w.data); err != nil {
			return sandbox.NewSetupError("idmap", fmt.Sprintf("write %q", strings.TrimSpace(w.data)), path, err)
		}
	}
	return nil
}

func formatIDMap(m []syscall.SysProcIDMap) string {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b.String()
}

// writeProcFile writes data with one write(2), as the kernel wants for a
// map: a short write is an error.
func writeProcFile(path, data string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, []byte(data))
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("short write: %d of %d bytes", n, len(data))
	}
	return nil
}

// afterMaps is the child's half, run once the request arrived (so the
// maps are written): with root, it becomes uid and gid 0 of its namespace
// on every thread (the syscall package's Setresuid family does every
// thread, without libpsx), as syscall.Credential did before the exec.
// The inheritable set the carry raised is cleared by nsinit's capability
// step (nsinit.Config.CarriedCaps), once /proc is the sandbox's: libpsx
// finds the threads there.
func afterMaps(root bool) (op string, err error) {
	if !root {
		return "", nil
	}
	// The kernel makes a process whose ids change non-dumpable, which a
	// start with the ids set before the exec never was (the exec makes it
	// dumpable again): keep what the exec gave.
	dumpable, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return "prctl PR_GET_DUMPABLE", err
	}
	// Every thread has this thread's ids until something changes them:
	// where the maps made them 0 already (the caller's own ids mapped to
	// root) there is nothing to do.
	if r, e, s := unix.Getresgid(); r != 0 || e != 0 || s != 0 {
		if err := syscall.Setresgid(0, 0, 0); err != nil {
			return "setresgid 0 0 0", err
		}
	}
	if r, e, s := unix.Getresuid(); r != 0 || e != 0 || s != 0 {
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			return "setresuid 0 0 0", err
		}
	}
	if now, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err == nil && now == dumpable {
		return "", nil
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, uintptr(dumpable), 0, 0, 0); err != nil {
		return fmt.Sprintf("prctl PR_SET_DUMPABLE %d", dumpable), err
	}
	return "", nil
}

// callerInheritableEmpty reports whether the calling thread's inheritable
// set is empty (false when it cannot be read).
func callerInheritableEmpty() bool {
	c, err := capability.NewPid2(0)
	if err != nil || c.Load() != nil {
		return false
	}
	return c.Empty(capability.INHERITABLE)
}
