package nsinit

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func hasModeOption(data []string) bool {
	for _, d := range data {
		if strings.HasPrefix(d, "mode=") {
			return true
		}
	}
	return false
}

func isBind(mt specs.Mount, mo *mountOptions) bool {
	return mo.bind || mt.Type == "bind"
}

// defaultProcMount is the /proc a new pid namespace gets on the host root
// when the mount list has none.
var defaultProcMount = specs.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}}

// prepare parses every mount, clones every bind source and host file the
// setup needs, and checks the destinations that exist in the root, before
// anything is mounted.
func (m *mounter) prepare() error {
	var err error
	if m.root, err = openPath(orSlash(m.rootfs), unix.O_DIRECTORY); err != nil {
		return fail("rootfs", "open", orSlash(m.rootfs), err)
	}
	if err := m.receiveIDMapped(); err != nil {
		return err
	}
	mounts := m.o.Mounts
	first := 0 // the index in o.Mounts of mounts[0]
	if m.rootfs == "" && m.o.NewNamespace(specs.PIDNamespace) && !slices.ContainsFunc(mounts, func(mt specs.Mount) bool { return path.Clean(mt.Destination) == "/proc" }) {
		mounts = append([]specs.Mount{defaultProcMount}, mounts...)
		first = -1
	}
	for i, mt := range mounts {
		mo, err := parseMountOptions(mt.Options)
		if err != nil {
			return fail("mount", fmt.Sprintf("mounts[%d] options", i), mt.Destination, fmt.Errorf("%w: %v", unix.EINVAL, err))
		}
		if !path.IsAbs(mt.Destination) {
			return fail("mount", fmt.Sprintf("mounts[%d] destination", i), mt.Destination, unix.EINVAL)
		}
		p := &mountPlan{m: mt, dest: path.Clean(mt.Destination), mo: mo, idx: first + i}
		m.plans = append(m.plans, p)
		if !isBind(mt, mo) {
			continue
		}
		mo.bind = true
		if mo.idmap {
			// Cloned and mapped by the launcher (receiveIDMapped).
			if p.tree = m.idmappedClone(p.idx); p.tree == nil {
				return fail("mount", fmt.Sprintf("mounts[%d].options idmap (no clone from the launcher)", p.idx), mt.Source, unix.EPROTO)
			}
		} else if p.tree, err = m.cloneSource(mt.Source, mo.recursive); err != nil {
			return err
		}
		var s unix.Stat_t
		if err := unix.Fstat(int(p.tree.Fd()), &s); err != nil {
			return fail("mount", "stat bind source", mt.Source, err)
		}
		p.srcDir = s.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	// Destinations that exist now must be of the right kind. One beneath
	// an earlier destination lives in that mount and is checked when it is
	// mounted.
	for i, p := range m.plans {
		if m.beneathEarlier(i) {
			continue
		}
		needDir := !p.mo.bind || p.srcDir
		h, err := pathrs.OpenatInRoot(m.root, p.dest)
		switch {
		case err == nil:
			err = checkKind(h, needDir)
			h.Close()
			if err != nil {
				return fail("mount", "destination", p.dest, err)
			}
		case errors.Is(err, unix.ENOENT) && m.rootfs != "":
			// Created inside the root file system when it is mounted.
		case errors.Is(err, unix.ENOENT):
			return fail("mount", "destination (without a root file system nothing is created on the host root)", p.dest, unix.ENOENT)
		default:
			return fail("mount", "resolve destination in root", p.dest, unwrapPath(err))
		}
	}
	// The minimal /dev's tmpfs is 0755 unless the mount says otherwise: a
	// tmpfs root is 1777 by default, and in a sticky world-writable
	// directory the kernel refuses O_CREAT on a device node that neither
	// the directory's owner nor the caller owns (os.Create("/dev/null")).
	if p := m.devTmpfs(); p != nil && !hasModeOption(p.mo.data) {
		p.mo.data = append(p.mo.data, "mode=755")
	}
	// Host files the setup binds from, cloned before the host root is
	// made read-only and nodev.
	need := map[string]bool{"/dev/null": false}
	if m.devTmpfs() != nil {
		for _, d := range devices {
			need["/dev/"+d.name] = false
		}
	}
	for _, p := range m.plans {
		switch p.m.Type {
		case "sysfs":
			need["/sys"] = true
		case "cgroup", "cgroup2":
			if m.cgroups == nil {
				if err := m.prepareCgroups(); err != nil {
					return err
				}
			}
		}
	}
	for n, rec := range need {
		f, err := openPath(n, 0)
		if err != nil {
			if strings.HasPrefix(n, "/dev/") && n != "/dev/null" && !m.userns {
				continue // made with mknod as root
			}
			return fail("mount", "open host file", n, err)
		}
		t, err := cloneTree(f, rec)
		f.Close()
		if err != nil {
			return fail("mount", "clone host file", n, err)
		}
		m.host[n] = &hostTree{fd: t, recursive: rec}
	}
	return nil
}

// cloneSource opens a bind source and clones its mount (tree, with
// recursive) as a detached mount.
func (m *mounter) cloneSource(source string, recursive bool) (*os.File, error) {
	src, err := openPath(source, 0)
	if err != nil {
		return nil, fail("mount", "open bind source", source, err)
	}
	tree, err := cloneTree(src, recursive)
	src.Close()
	if err != nil {
		return nil, fail("mount", "clone bind source", source, err)
	}
	return tree, nil
}

// hostClone returns a detached clone of the host file n made in prepare,
// to be attached by the caller and then closed.
func (m *mounter) hostClone(n string) (*os.File, error) {
	t := m.host[n]
	if t == nil {
		return nil, fmt.Errorf("%w: no clone of host %s", unix.ENOENT, n)
	}
	if !t.attached {
		t.attached = true
		fd, err := unix.FcntlInt(t.fd.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), n), nil
	}
	return cloneTree(t.fd, t.recursive)
}

func (m *mounter) beneathEarlier(i int) bool {
	for _, q := range m.plans[:i] {
		if q.dest == "/" || strings.HasPrefix(m.plans[i].dest, q.dest+"/") || q.dest == m.plans[i].dest {
			return true
		}
	}
	return false
}

func checkKind(h *os.File, needDir bool) error {
	var s unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &s); err != nil {
		return err
	}
	isDir := s.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case needDir && !isDir:
		return fmt.Errorf("%w: is a file where a directory is needed", unix.ENOTDIR)
	case !needDir && isDir:
		return fmt.Errorf("%w: is a directory where a file is needed (the bind source is a file)", unix.EISDIR)
	}
	return nil
}

func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// openPath opens p (following symlinks, on the host) as an O_PATH handle.
func openPath(p string, flags int) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// target resolves dest and returns a handle to it: beneath the mount made
// here that covers it, from that mount's handle; otherwise inside the
// root. A missing destination is created (a directory, or an empty file
// for a file bind) inside a root file system or a file system made here.
func (m *mounter) target(dest string, dir bool) (*os.File, error) {
	base, rel := m.root, dest
	create := m.rootfs != ""
	if c, r := m.covering(dest); c != nil {
		base, rel = c.fd, r
		create = create || c.fstype != "bind"
		if rel == "." {
			h, err := openBeneath(base, ".")
			if err != nil {
				return nil, err
			}
			if err := checkKind(h, dir); err != nil {
				h.Close()
				return nil, err
			}
			return h, nil
		}
	}
	h, err := pathrs.OpenatInRoot(base, rel)
	if err == nil {
		if err := checkKind(h, dir); err != nil {
			h.Close()
			return nil, err
		}
		return h, nil
	}
	if !errors.Is(err, unix.ENOENT) || !create {
		return nil, unwrapPath(err)
	}
	if dir {
		h, err := pathrs.MkdirAllHandle(base, rel, 0o755)
		return h, unwrapPath(err)
	}
	parent, err := pathrs.MkdirAllHandle(base, path.Dir(rel), 0o755)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), path.Base(rel), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dest), nil
}
