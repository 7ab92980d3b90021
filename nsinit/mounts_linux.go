package nsinit

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// propagationFlags maps rootfsPropagation to mount flags; "" is rslave.
func propagationFlags(p string) (uintptr, bool) {
	if p == "" {
		p = "rslave"
	}
	f, ok := propagationOptions[p]
	return f, ok
}

// stepMounts builds the child's file system view in its new mount
// namespace, in this order:
//
//  1. / becomes rslave (or o.RootfsPropagation when there is no root
//     file system): nothing mounted here reaches the host.
//  2. Everything that can be checked is checked before anything is
//     mounted: option lists, bind sources (opened now, so what is checked
//     is what is mounted), and destinations that exist in the root but are
//     of the wrong kind.
//  3. The root: a root file system directory (o.Root.Path) is bound onto
//     itself; the host root with Root{Path: "/", Readonly: true} is made
//     read-only recursively in this namespace.
//  4. o.Mounts in order. Every destination is resolved inside the root
//     with filepath-securejoin's pathrs-lite (openat2 RESOLVE_IN_ROOT
//     where the kernel has it), created there if missing (only with a root
//     file system: on the host root nothing is created), and the mount is
//     attached to the opened handle itself (move_mount to the fd, or
//     mount(2) on its /proc/self/fd magic link): a path swapped for a
//     symlink during setup cannot redirect it out of the root.
//  5. A tmpfs mounted on /dev is populated with the minimal device set.
//  6. Masked and read-only paths (runc's default lists with a root file
//     system when none are given).
//  7. pivot_root into the root file system and detach the old root, or
//     MS_MOVE + chroot where pivot_root is refused (an initramfs root);
//     then the root is made read-only if asked, and gets its propagation.
//
// Without a root file system and without mounts, a new pid namespace gets
// its own /proc, as before.
func stepMounts(o *sandbox.Options, _ Config, a *Applied) error {
	if !o.NewNamespace(specs.MountNamespace) {
		return nil
	}
	m := &mounter{o: o, a: a, userns: o.NewNamespace(specs.UserNamespace), host: map[string]*os.File{}}
	defer m.close()
	return m.run()
}

// mounter holds what stepMounts works with.
type mounter struct {
	o      *sandbox.Options
	a      *Applied
	userns bool
	// rootfs is the root file system directory on the host, "" for the
	// host root.
	rootfs string
	hostRO bool
	// root is an O_PATH handle of the root all destinations resolve in.
	root  *os.File
	plans []*mountPlan
	// host are host files opened before the pivot: bind sources of masks
	// (/dev/null), of the minimal /dev, of sysfs and cgroup fallbacks.
	host map[string]*os.File
	// procOK: /proc is a procfs, so /proc/self/fd magic links work.
	procOK bool
}

type mountPlan struct {
	m      specs.Mount
	dest   string
	mo     *mountOptions
	src    *os.File // a bind's source, opened before anything is mounted
	srcDir bool
}

func (m *mounter) close() {
	if m.root != nil {
		m.root.Close()
	}
	for _, p := range m.plans {
		if p.src != nil {
			p.src.Close()
		}
	}
	for _, f := range m.host {
		f.Close()
	}
}

func (m *mounter) report(format string, args ...any) {
	m.a.Mounts = append(m.a.Mounts, fmt.Sprintf(format, args...))
}

func (m *mounter) run() error {
	o := m.o
	if r := o.Root; r != nil {
		if p := path.Clean(r.Path); p == "/" {
			m.hostRO = r.Readonly
		} else {
			m.rootfs = p
		}
	}
	// 1. Propagation. With a root file system / is rslave first (a
	// shared or unbindable / would make the bind and pivot_root below
	// fail); the asked propagation is applied to the new root at the end.
	prop := o.RootfsPropagation
	if m.rootfs != "" {
		prop = "rslave"
	}
	flags, ok := propagationFlags(prop)
	if !ok {
		return fail("mount", "rootfsPropagation", prop, unix.EINVAL)
	}
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return fail("mount", "make / "+propagationName(prop), "/", err)
	}
	if m.rootfs == "" && !m.hostRO && len(o.Mounts) == 0 && len(o.MaskedPaths) == 0 && len(o.ReadonlyPaths) == 0 {
		return m.defaultProc()
	}

	// 2. Check everything before mounting anything.
	if err := m.prepare(); err != nil {
		return err
	}

	// 3. The root.
	if m.rootfs != "" {
		if err := unix.Mount(m.rootfs, m.rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fail("rootfs", "bind the root file system onto itself", m.rootfs, err)
		}
		m.root.Close()
		r, err := openPath(m.rootfs, unix.O_DIRECTORY)
		if err != nil {
			return fail("rootfs", "open", m.rootfs, err)
		}
		m.root = r
	}
	if m.hostRO {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(int(m.root.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fail("rootfs", "mount_setattr ro recursive (host root read-only)", "/", err)
		}
		m.report("host root / read-only, recursively")
	}
	if m.rootfs == "" && !m.planned("/proc") {
		if err := m.defaultProc(); err != nil {
			return err
		}
	}

	// 4. The mounts, in order.
	for _, p := range m.plans {
		if err := m.mount(p); err != nil {
			return err
		}
	}
	// 5. The minimal /dev.
	if m.devTmpfs() != nil {
		if err := m.populateDev(); err != nil {
			return err
		}
	}
	// 6. Masked and read-only paths.
	masked, ro := o.MaskedPaths, o.ReadonlyPaths
	if m.rootfs != "" && len(masked) == 0 {
		masked = DefaultMaskedPaths()
	}
	if m.rootfs != "" && len(ro) == 0 {
		ro = DefaultReadonlyPaths()
	}
	if err := m.readonlyPaths(ro); err != nil {
		return err
	}
	if err := m.maskPaths(masked); err != nil {
		return err
	}
	// 7. Into the root.
	if m.rootfs != "" {
		return m.enterRoot()
	}
	return nil
}

// defaultProc gives a new pid namespace its own /proc on the host root.
func (m *mounter) defaultProc() error {
	if !m.o.NewNamespace(specs.PIDNamespace) {
		return nil
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail("mount", "mount proc", "/proc", err)
	}
	m.report("proc on /proc")
	return nil
}

// planned reports whether a mount in the list has destination dest.
func (m *mounter) planned(dest string) bool {
	for _, p := range m.plans {
		if p.dest == dest {
			return true
		}
	}
	return false
}

// devTmpfs returns the plan of a tmpfs on /dev, the trigger for the
// minimal device set.
func (m *mounter) devTmpfs() *mountPlan {
	var last *mountPlan
	for _, p := range m.plans {
		if p.dest == "/dev" {
			last = p
		}
	}
	if last != nil && !last.mo.bind && last.m.Type == "tmpfs" {
		return last
	}
	return nil
}

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

// prepare parses every mount, opens every bind source and host file the
// setup needs, and checks the destinations that exist in the root, before
// anything is mounted.
func (m *mounter) prepare() error {
	var err error
	if m.root, err = openPath(orSlash(m.rootfs), unix.O_DIRECTORY); err != nil {
		return fail("rootfs", "open", orSlash(m.rootfs), err)
	}
	var st unix.Statfs_t
	m.procOK = unix.Statfs("/proc/self/fd", &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
	for i, mt := range m.o.Mounts {
		mo, err := parseMountOptions(mt.Options)
		if err != nil {
			return fail("mount", fmt.Sprintf("mounts[%d] options", i), mt.Destination, fmt.Errorf("%w: %v", unix.EINVAL, err))
		}
		if !path.IsAbs(mt.Destination) {
			return fail("mount", fmt.Sprintf("mounts[%d] destination", i), mt.Destination, unix.EINVAL)
		}
		p := &mountPlan{m: mt, dest: path.Clean(mt.Destination), mo: mo}
		if isBind(mt, mo) {
			mo.bind = true
			if p.src, err = openPath(mt.Source, 0); err != nil {
				return fail("mount", "open bind source", mt.Source, err)
			}
			var s unix.Stat_t
			if err := unix.Fstat(int(p.src.Fd()), &s); err != nil {
				return fail("mount", "stat bind source", mt.Source, err)
			}
			p.srcDir = s.Mode&unix.S_IFMT == unix.S_IFDIR
		}
		m.plans = append(m.plans, p)
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
	// Host files the setup binds from.
	need := []string{"/dev/null"}
	if m.devTmpfs() != nil {
		for _, d := range devices {
			need = append(need, "/dev/"+d.name)
		}
	}
	for _, p := range m.plans {
		switch p.m.Type {
		case "sysfs":
			need = append(need, "/sys")
		case "cgroup", "cgroup2":
			need = append(need, "/sys/fs/cgroup")
		}
	}
	for _, n := range need {
		if m.host[n] != nil {
			continue
		}
		f, err := openPath(n, 0)
		if err != nil {
			if strings.HasPrefix(n, "/dev/") && n != "/dev/null" && !m.userns {
				continue // made with mknod as root
			}
			return fail("mount", "open host file", n, err)
		}
		m.host[n] = f
	}
	return nil
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

// target resolves dest inside the root and returns a handle to it,
// creating it (a directory, or an empty file for a file bind) inside a
// root file system when it is missing.
func (m *mounter) target(dest string, dir bool) (*os.File, error) {
	h, err := pathrs.OpenatInRoot(m.root, dest)
	if err == nil {
		if err := checkKind(h, dir); err != nil {
			h.Close()
			return nil, err
		}
		return h, nil
	}
	if !errors.Is(err, unix.ENOENT) || m.rootfs == "" {
		return nil, unwrapPath(err)
	}
	if dir {
		h, err := pathrs.MkdirAllHandle(m.root, dest, 0o755)
		return h, unwrapPath(err)
	}
	parent, err := pathrs.MkdirAllHandle(m.root, path.Dir(dest), 0o755)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), path.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dest), nil
}

func fdPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// mount makes one OCI mount.
func (m *mounter) mount(p *mountPlan) error {
	mt, mo := p.m, p.mo
	if mo.bind {
		h, err := m.target(p.dest, p.srcDir)
		if err != nil {
			return fail("mount", "bind destination", p.dest, err)
		}
		defer h.Close()
		note, err := m.bind(p.src, h, mo)
		if err != nil {
			return fail("mount", "bind "+mt.Source+" on", p.dest, err)
		}
		kind := "bind"
		if mo.recursive {
			kind = "rbind"
		}
		m.report("%s %s on %s%s", kind, mt.Source, p.dest, note)
		return nil
	}
	h, err := m.target(p.dest, true)
	if err != nil {
		return fail("mount", mt.Type+" destination", p.dest, err)
	}
	defer h.Close()
	switch mt.Type {
	case "sysfs":
		err := m.newFS("sysfs", orDefault(mt.Source, "sysfs"), h, mo)
		if errors.Is(err, unix.EPERM) && m.userns && !m.o.NewNamespace(specs.NetworkNamespace) {
			// The kernel mounts sysfs only for a network namespace the
			// mounter's user namespace owns: bind the host's, read-only.
			ro := *mo
			ro.recursive = true
			ro.set |= unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
			ro.clr = 0
			if _, err := m.bind(m.host["/sys"], h, &ro); err != nil {
				return fail("mount", "bind host /sys read-only (sysfs refused without a network namespace)", p.dest, err)
			}
			m.report("sysfs on %s: host /sys bound read-only (no network namespace of its own, so the kernel refuses a new sysfs)", p.dest)
			return nil
		}
		if err != nil {
			return fail("mount", "mount sysfs on", p.dest, err)
		}
	case "cgroup", "cgroup2":
		var st unix.Statfs_t
		v2 := unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
		var err error = unix.EPERM
		if v2 {
			err = m.newFS("cgroup2", orDefault(mt.Source, "cgroup2"), h, mo)
		}
		if errors.Is(err, unix.EPERM) && (m.userns || !v2) {
			b := *mo
			b.recursive = true
			if _, err := m.bind(m.host["/sys/fs/cgroup"], h, &b); err != nil {
				return fail("mount", "bind host /sys/fs/cgroup", p.dest, err)
			}
			why := "cgroup v1 host: its hierarchies are bound as they are"
			if v2 {
				why = "the kernel refuses a new cgroup2 mount without a cgroup namespace of its own"
			}
			m.report("%s on %s: host /sys/fs/cgroup bound recursively%s (%s)", mt.Type, p.dest, roNote(mo), why)
			return nil
		}
		if err != nil {
			return fail("mount", "mount cgroup2 on", p.dest, err)
		}
	case "devpts":
		m.fixDevpts(mo)
		if err := m.newFS("devpts", orDefault(mt.Source, "devpts"), h, mo); err != nil {
			return fail("mount", "mount devpts on", p.dest, err)
		}
	default:
		if err := m.newFS(mt.Type, orDefault(mt.Source, mt.Type), h, mo); err != nil {
			return fail("mount", "mount "+mt.Type+" on", p.dest, err)
		}
	}
	if mo.prop != 0 {
		if err := m.propagate(p.dest, mo.prop); err != nil {
			return err
		}
	}
	if d := mo.dataString(); d != "" {
		m.report("%s on %s (%s)", mt.Type, p.dest, d)
	} else {
		m.report("%s on %s", mt.Type, p.dest)
	}
	return nil
}

func roNote(mo *mountOptions) string {
	if mo.set&unix.MOUNT_ATTR_RDONLY != 0 {
		return " read-only"
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// newFS mounts a new file system of type fstype on the handle h through its
// /proc/self/fd magic link.
func (m *mounter) newFS(fstype, source string, h *os.File, mo *mountOptions) error {
	if !m.procOK {
		return fmt.Errorf("%w: /proc is not a procfs, so a mount cannot be pinned to an opened destination", ErrUnsupported)
	}
	return unix.Mount(source, fdPath(h), fstype, mo.msFlags, mo.dataString())
}

// propagate sets the propagation of the mount now at dest (resolved in the
// root again: the handle used to mount is the mount point beneath it).
func (m *mounter) propagate(dest string, prop uintptr) error {
	h, err := pathrs.OpenatInRoot(m.root, dest)
	if err != nil {
		return fail("mount", "reopen for propagation", dest, unwrapPath(err))
	}
	defer h.Close()
	p, rec := propagationAttr(prop)
	flags := unix.AT_EMPTY_PATH
	if rec {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(h.Fd()), "", uint(flags), &unix.MountAttr{Propagation: p}); err != nil {
		return fail("mount", "set propagation", dest, err)
	}
	return nil
}

// bind clones the mount (tree, with rbind) at src, applies the asked
// attributes to the detached clone (recursively with rbind), and attaches
// it on the handle dst. In a user namespace the flags the kernel locked on
// the source (those of the host's mount) are kept: asking to clear one is
// reported, not an error, since the result is stricter than asked.
func (m *mounter) bind(src, dst *os.File, mo *mountOptions) (string, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	rec := 0
	if mo.recursive {
		flags |= unix.AT_RECURSIVE
		rec = unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(int(src.Fd()), "", uint(flags))
	if errors.Is(err, unix.ENOSYS) {
		return "", fmt.Errorf("%w: open_tree (Linux 5.2) and mount_setattr (5.12) are needed for bind mounts", ErrUnsupported)
	}
	if err != nil {
		return "", fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: mo.set, Attr_clr: mo.clr}
	var note string
	if m.userns {
		locked, err := statfsAttrs(int(src.Fd()))
		if err != nil {
			return "", fmt.Errorf("fstatfs: %w", err)
		}
		kept := attr.Attr_clr & locked
		if mo.recursive {
			kept = attr.Attr_clr // submounts may have locked others
		}
		attr.Attr_clr &^= kept
		if kept != 0 {
			note = " (kept " + attrNames(kept) + ": locked by the kernel in a user namespace)"
		}
		if mo.atimeSet {
			note += " (atime option ignored: the host's atime mode is locked in a user namespace)"
		}
	} else if mo.atimeSet {
		attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		attr.Attr_set |= mo.atime
	}
	if attr.Attr_set|attr.Attr_clr != 0 {
		if err := unix.MountSetattr(fd, "", uint(unix.AT_EMPTY_PATH|rec), &attr); err != nil {
			return "", fmt.Errorf("mount_setattr %s: %w", attrNames(attr.Attr_set), err)
		}
	}
	if err := unix.MoveMount(fd, "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("move_mount: %w", err)
	}
	if mo.prop != 0 {
		p, r := propagationAttr(mo.prop)
		pf := unix.AT_EMPTY_PATH
		if r {
			pf |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(fd, "", uint(pf), &unix.MountAttr{Propagation: p}); err != nil {
			return "", fmt.Errorf("mount_setattr propagation: %w", err)
		}
	}
	if s := attrNames(attr.Attr_set); s != "" {
		note = " (" + s + ")" + note
	}
	return note, nil
}

func propagationName(p string) string {
	if p == "" {
		return "rslave"
	}
	return p
}
