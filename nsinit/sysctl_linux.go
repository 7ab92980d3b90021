package nsinit

import (
	"errors"
	"fmt"
	"os"
	"slices"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepSysctl writes o.Sysctl (OCI linux.sysctl), in key order, through the
// sandbox's own /proc/sys, between the mounts and the read-only and masked
// paths that make /proc/sys read-only. Validate allowed only sysctls that
// a namespace of the sandbox's own holds; the kernel picks the namespace
// of the writing thread, this one, which is in all of them (the late ipc
// namespace included). Each file is opened beneath /proc/sys without
// leaving that procfs (no "..", no symbolic links, no mount crossing).
func stepSysctl(c *child) error {
	o := c.o
	if len(o.Sysctl) == 0 {
		return nil
	}
	dir, err := c.procSys()
	if err != nil {
		return err
	}
	defer dir.Close()
	keys := make([]string, 0, len(o.Sysctl))
	for k := range o.Sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c.a.Sysctl = map[string]string{}
	for _, k := range keys {
		rel, err := sandbox.SysctlPath(k)
		if err != nil {
			return fail("sysctl", "key "+k, "", fmt.Errorf("%w: %v", unix.EINVAL, err))
		}
		path := "/proc/sys/" + rel
		if err := writeSysctl(dir, rel, o.Sysctl[k]); err != nil {
			return fail("sysctl", "write "+k+"="+o.Sysctl[k], path, err)
		}
		c.a.Sysctl[k] = o.Sysctl[k]
	}
	return nil
}

// writeSysctl writes value into rel beneath the /proc/sys handle dir, in
// one write, as sysctl(8) does.
func writeSysctl(dir *os.File, rel, value string) error {
	fd, err := unix.Openat2(int(dir.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, []byte(value))
	if err == nil && n != len(value) {
		err = fmt.Errorf("%w: wrote %d of %d bytes", unix.EIO, n, len(value))
	}
	return err
}

// procSys opens the sandbox's /proc/sys (O_PATH): beneath the proc mount
// the mount step made on /proc, checked to be that very mount; without
// one, /proc/sys in the sandbox's root as the mount step left it (the
// host root's /proc), or, without a mount namespace, the caller's. It
// must be on a procfs, whatever /proc is in a root file system someone
// else can write.
func (c *child) procSys() (*os.File, error) {
	const p = "/proc/sys"
	var h *os.File
	var err error
	switch m := c.mnt; {
	case m == nil:
		h, err = openProc(p, unix.O_PATH|unix.O_DIRECTORY)
	default:
		if mf, rel := m.covering(p); mf != nil && mf.fstype == "proc" {
			if h, err = openBeneath(mf.fd, rel); err == nil {
				var id uint64
				if id, err = mountID(h); err == nil && id != mf.id {
					err = fmt.Errorf("%w: on mount %d, not on the proc mount %d made on %s", unix.EXDEV, id, mf.id, mf.dest)
				}
			}
		} else {
			h, err = pathrs.OpenatInRoot(m.root, p)
			err = unwrapPath(err)
		}
	}
	if err == nil {
		var st unix.Statfs_t
		if err = unix.Fstatfs(int(h.Fd()), &st); err == nil && st.Type != unix.PROC_SUPER_MAGIC {
			err = fmt.Errorf("%w: not on a procfs (file system type %#x)", unix.EXDEV, st.Type)
		}
	}
	if err != nil {
		if h != nil {
			h.Close()
		}
		if errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("%w: the sandbox has no /proc to write linux.sysctl through: mount one", err)
		}
		return nil, fail("sysctl", "open", p, err)
	}
	return h, nil
}
