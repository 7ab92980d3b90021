package nsinit

import (
	"errors"
	"fmt"
	"os"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// DefaultMaskedPaths returns the paths masked in every sandbox with a new
// mount namespace whose Options list none: runc's default list.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths returns the paths made read-only in every sandbox
// with a new mount namespace whose Options list none: runc's default list.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// protectLists returns the masked and read-only paths to apply: the
// Options' own lists, each replacing its default as in runc, or runc's
// defaults for a list that is empty.
//
// An empty list means the defaults, not "nothing": Options and OCI
// configs travel as JSON with omitempty, where an explicit [] and an
// absent list are the same bytes, so a sandbox could not tell a config
// that opts out from one that says nothing; nsfork takes the safe reading
// (issue 20, item 9). To mask nothing, a caller lists a path that does
// not exist.
func (m *mounter) protectLists() (masked, ro []string) {
	masked, ro = m.o.MaskedPaths, m.o.ReadonlyPaths
	if len(masked) == 0 {
		masked = DefaultMaskedPaths()
	}
	if len(ro) == 0 {
		ro = DefaultReadonlyPaths()
	}
	return m.expand(masked), m.expand(ro)
}

// expand returns paths plus, for every proc mounted here at a destination
// other than /proc (--proc=DIR), each /proc/... entry moved beneath that
// destination: every procfs the sandbox gets is protected alike.
func (m *mounter) expand(paths []string) []string {
	out := paths
	for _, mf := range m.made {
		if mf.fstype != "proc" || mf.dest == "/proc" {
			continue
		}
		for _, p := range paths {
			if rest, ok := strings.CutPrefix(p, "/proc/"); ok {
				out = append(out[:len(out):len(out)], mf.dest+"/"+rest)
			}
		}
	}
	return out
}

// protect makes the read-only paths read-only, then masks the masked ones.
func (m *mounter) protect() error {
	masked, ro := m.protectLists()
	for _, p := range ro {
		if err := m.readonlyPath(p); err != nil {
			return err
		}
	}
	for _, p := range masked {
		if err := m.maskPath(p); err != nil {
			return err
		}
	}
	return nil
}

// openProtected opens p for a mask or a read-only bind, or returns nil if
// it does not exist. Beneath a mount made here p is opened from that
// mount's handle, never leaving it (openat2 RESOLVE_BENEATH,
// RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV), and what was opened must be on
// that very mount (its mount id) and, for a proc mount, on a procfs: a
// /proc renamed or replaced in a root file system someone else can write
// cannot redirect a mask. Elsewhere p is resolved inside the root.
func (m *mounter) openProtected(what, p string) (*os.File, error) {
	c, rel := m.covering(p)
	if c == nil {
		h, err := pathrs.OpenatInRoot(m.root, p)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		if err != nil {
			return nil, fail("mount", "resolve "+what+" in root", p, unwrapPath(err))
		}
		return h, nil
	}
	h, err := openBeneath(c.fd, rel)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fail("mount", "resolve "+what+" beneath the "+c.fstype+" mount on "+c.dest, p, err)
	}
	id, err := mountID(h)
	if err == nil && id != c.id {
		err = fmt.Errorf("%w: on mount %d, not on the %s mount %d made on %s", unix.EXDEV, id, c.fstype, c.id, c.dest)
	}
	if err == nil && c.fstype == "proc" {
		var st unix.Statfs_t
		if err = unix.Fstatfs(int(h.Fd()), &st); err == nil && st.Type != unix.PROC_SUPER_MAGIC {
			err = fmt.Errorf("%w: not on a procfs (file system type %#x)", unix.EXDEV, st.Type)
		}
	}
	if err != nil {
		h.Close()
		return nil, fail("mount", "check "+what, p, err)
	}
	return h, nil
}

// maskPath hides p if it exists: a directory under an empty read-only
// tmpfs, anything else under a bind of the host's /dev/null. The masks
// are mounts of the sandbox's own namespace: without CAP_SYS_ADMIN (the
// presets drop every capability) they cannot be unmounted.
func (m *mounter) maskPath(p string) error {
	h, err := m.openProtected("masked path", p)
	if err != nil || h == nil {
		return err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return fail("mount", "stat masked path", p, err)
	}
	var tree *os.File
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mo := &mountOptions{set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC, data: []string{"mode=0555"}}
		if tree, err = newFS("tmpfs", "tmpfs", mo); err == nil {
			if err = attach(tree, h); err != nil {
				tree.Close()
			}
		}
	} else if tree, err = m.hostClone("/dev/null"); err == nil {
		if _, err = m.bindTree(tree, h, &mountOptions{}); err != nil {
			tree.Close()
		}
	}
	if err != nil {
		return fail("mount", "mask", p, err)
	}
	if err := m.track(p, "mask", tree, false); err != nil {
		return err
	}
	m.report("masked %s", p)
	return nil
}

// readonlyPath binds p, if it exists, onto itself, read-only, recursively.
func (m *mounter) readonlyPath(p string) error {
	h, err := m.openProtected("read-only path", p)
	if err != nil || h == nil {
		return err
	}
	defer h.Close()
	tree, err := m.bind(h, h, (&mountOptions{bind: true, set: unix.MOUNT_ATTR_RDONLY}).everywhere())
	if err != nil {
		return fail("mount", "make read-only", p, err)
	}
	if err := m.track(p, "bind", tree, false); err != nil {
		return err
	}
	m.report("read-only %s", p)
	return nil
}
