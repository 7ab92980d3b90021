package nsinit

import (
	"errors"
	"fmt"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// DefaultMaskedPaths returns the paths masked in a sandbox with a root file
// system whose Options list none: runc's default list.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths returns the paths made read-only in a sandbox with a
// root file system whose Options list none: runc's default list.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// maskPaths hides each path that exists in the root: a directory under an
// empty read-only tmpfs, anything else under a bind of /dev/null. The
// masks are mounts of the sandbox's own namespace: without CAP_SYS_ADMIN
// (the presets drop every capability) they cannot be unmounted.
func (m *mounter) maskPaths(paths []string) error {
	for _, p := range paths {
		h, err := pathrs.OpenatInRoot(m.root, p)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fail("mount", "resolve masked path in root", p, unwrapPath(err))
		}
		var st unix.Stat_t
		err = unix.Fstat(int(h.Fd()), &st)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if !m.procOK {
				err = fmt.Errorf("%w: /proc is not a procfs", ErrUnsupported)
			} else {
				err = unix.Mount("tmpfs", fdPath(h), "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0555")
			}
		} else if err == nil {
			_, err = m.bind(m.host["/dev/null"], h, &mountOptions{})
		}
		h.Close()
		if err != nil {
			return fail("mount", "mask", p, err)
		}
		m.report("masked %s", p)
	}
	return nil
}

// readonlyPaths binds each path that exists in the root onto itself,
// read-only, recursively.
func (m *mounter) readonlyPaths(paths []string) error {
	for _, p := range paths {
		h, err := pathrs.OpenatInRoot(m.root, p)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fail("mount", "resolve read-only path in root", p, unwrapPath(err))
		}
		_, err = m.bind(h, h, &mountOptions{bind: true, recursive: true, set: unix.MOUNT_ATTR_RDONLY})
		h.Close()
		if err != nil {
			return fail("mount", "make read-only", p, err)
		}
		m.report("read-only %s", p)
	}
	return nil
}
