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
//     mounted: option lists, bind sources (opened and cloned now, as
//     detached mount trees, so what is checked is what is mounted and a
//     bind keeps the source's flags as the host has them), destinations
//     that exist in the root but are of the wrong kind. Without a root
//     file system, a new pid namespace gets a /proc of its own first in
//     the list unless the list has one.
//  3. The root: a root file system directory (o.Root.Path) is bound onto
//     itself through its descriptor; the host root with Root{Path: "/",
//     Readonly: true} is made read-only and nodev on every submount
//     (mount_setattr AT_RECURSIVE). Mounts made after this keep their own
//     flags: a tmpfs or a bind with rw stays writable, the minimal /dev
//     holds usable devices.
//  4. o.Mounts in order. A destination beneath a mount made here is
//     resolved from that mount's descriptor; any other inside the root
//     with filepath-securejoin's pathrs-lite (openat2 RESOLVE_IN_ROOT). It
//     is created there if missing (only inside a root file system or a
//     file system made here: on the host root nothing is created). A new
//     file system is made detached (fsopen, fsmount), a bind is the clone
//     of step 2, and either is attached with move_mount onto the opened
//     destination. sysfs is read-only unless the mount says rw.
//  5. A tmpfs mounted on /dev is populated with the minimal device set.
//  6. Read-only and masked paths, in every mode: runc's default lists
//     unless the Options give their own, applied to every /proc mounted
//     here (whatever its destination) through that mount's descriptor
//     (see mask_linux.go).
//  7. pivot_root into the root file system and detach the old root, or
//     MS_MOVE + chroot where pivot_root is refused (an initramfs root);
//     then the root is made read-only if asked, and gets its propagation.
//  8. Every mount of the list that is still visible is looked up again at
//     its destination in the final root and must be the very mount made
//     (its mount id; a procfs for proc): a destination renamed or swapped
//     by whoever can write the root file system fails the setup.
func stepMounts(o *sandbox.Options, _ Config, a *Applied) error {
	if !o.NewNamespace(specs.MountNamespace) {
		return nil
	}
	m := &mounter{o: o, a: a, userns: o.NewNamespace(specs.UserNamespace), host: map[string]*hostTree{}}
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
	// root is a handle of the root all destinations resolve in: the root
	// file system's bind onto itself, or the host's /.
	root  *os.File
	plans []*mountPlan
	// host are host mounts cloned before anything changed: bind sources
	// of masks (/dev/null), of the minimal /dev, of sysfs and cgroup
	// fallbacks.
	host map[string]*hostTree
	// made are the mounts made so far, in order.
	made []*mountedFS
}

// hostTree is a detached clone of a host file's mount, made before the
// host root was made read-only or nodev, so it has the host's flags. Its
// first use attaches it; later uses clone the attached copy (a mount of
// this namespace, which every kernel with open_tree can clone).
type hostTree struct {
	fd        *os.File
	recursive bool
	attached  bool
}

type mountPlan struct {
	m      specs.Mount
	dest   string
	mo     *mountOptions
	tree   *os.File // a bind's source, cloned before anything is mounted
	srcDir bool
}

func (m *mounter) close() {
	if m.root != nil {
		m.root.Close()
	}
	for _, p := range m.plans {
		if p.tree != nil {
			p.tree.Close()
		}
	}
	for _, h := range m.host {
		h.fd.Close()
	}
	for _, f := range m.made {
		f.fd.Close()
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

	// 2. Check everything before mounting anything.
	if err := m.prepare(); err != nil {
		return err
	}

	// 3. The root.
	if m.rootfs != "" {
		tree, err := cloneTree(m.root, true)
		if err != nil {
			return fail("rootfs", "clone the root file system", m.rootfs, err)
		}
		if err := attach(tree, m.root); err != nil {
			tree.Close()
			return fail("rootfs", "bind the root file system onto itself", m.rootfs, err)
		}
		m.root.Close()
		m.root = tree
	}
	if m.hostRO {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(int(m.root.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fail("rootfs", "mount_setattr ro,nodev recursive (host root read-only)", "/", err)
		}
		m.report("host root / read-only and nodev, recursively")
	}

	if err := m.hostSysReadonly(); err != nil {
		return err
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
	// 6. Read-only and masked paths.
	if err := m.protect(); err != nil {
		return err
	}
	// 7. Into the root.
	if m.rootfs != "" {
		if err := m.enterRoot(); err != nil {
			return err
		}
	}
	// 8. Every mount where it was made.
	return m.verify()
}

// hostSysReadonly makes the host's /sys, with the cgroup hierarchies
// beneath it, read-only in the sandbox when the host root is its root (a
// root file system has only the /sys its mount list gives, and a sysfs
// mounted here is read-only unless asked for rw). As root without a user
// namespace, a sandbox's uid 0 could otherwise write sysfs and cgroup
// files, which check no capability, only the owner. Nothing is done where
// /sys is not a mount of its own or the mount list mounts /sys.
func (m *mounter) hostSysReadonly() error {
	if m.rootfs != "" || m.hostRO || m.planned("/sys") {
		return nil
	}
	h, err := pathrs.OpenatInRoot(m.root, "/sys")
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fail("mount", "open", "/sys", unwrapPath(err))
	}
	defer h.Close()
	sys, err := mountID(h)
	if err != nil {
		return fail("mount", "mount id", "/sys", err)
	}
	root, err := mountID(m.root)
	if err != nil {
		return fail("mount", "mount id", "/", err)
	}
	if sys == root {
		return nil
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(int(h.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fail("mount", "mount_setattr ro recursive (host /sys read-only)", "/sys", err)
	}
	m.report("host /sys read-only, recursively")
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
	mounts := m.o.Mounts
	if m.rootfs == "" && m.o.NewNamespace(specs.PIDNamespace) && !slices.ContainsFunc(mounts, func(mt specs.Mount) bool { return path.Clean(mt.Destination) == "/proc" }) {
		mounts = append([]specs.Mount{defaultProcMount}, mounts...)
	}
	for i, mt := range mounts {
		mo, err := parseMountOptions(mt.Options)
		if err != nil {
			return fail("mount", fmt.Sprintf("mounts[%d] options", i), mt.Destination, fmt.Errorf("%w: %v", unix.EINVAL, err))
		}
		if !path.IsAbs(mt.Destination) {
			return fail("mount", fmt.Sprintf("mounts[%d] destination", i), mt.Destination, unix.EINVAL)
		}
		p := &mountPlan{m: mt, dest: path.Clean(mt.Destination), mo: mo}
		m.plans = append(m.plans, p)
		if !isBind(mt, mo) {
			continue
		}
		mo.bind = true
		src, err := openPath(mt.Source, 0)
		if err != nil {
			return fail("mount", "open bind source", mt.Source, err)
		}
		p.tree, err = cloneTree(src, mo.recursive)
		src.Close()
		if err != nil {
			return fail("mount", "clone bind source", mt.Source, err)
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
			need["/sys/fs/cgroup"] = true
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

// mount makes one OCI mount.
func (m *mounter) mount(p *mountPlan) error {
	mt, mo := p.m, p.mo
	if mo.bind {
		h, err := m.target(p.dest, p.srcDir)
		if err != nil {
			return fail("mount", "bind destination", p.dest, err)
		}
		defer h.Close()
		note, err := m.bindTree(p.tree, h, mo)
		if err != nil {
			return fail("mount", "bind "+mt.Source+" on", p.dest, err)
		}
		tree := p.tree
		p.tree = nil
		if err := m.track(p.dest, "bind", tree, true); err != nil {
			return err
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
	fstype := mt.Type
	switch mt.Type {
	case "sysfs":
		// /sys is read-only unless the mount asks for rw by name.
		if mo.clr&unix.MOUNT_ATTR_RDONLY == 0 {
			mo.set |= unix.MOUNT_ATTR_RDONLY
		}
		err := m.newMount("sysfs", orDefault(mt.Source, "sysfs"), p.dest, h, mo)
		if errors.Is(err, unix.EPERM) && m.userns && !m.o.NewNamespace(specs.NetworkNamespace) {
			// The kernel mounts sysfs only for a network namespace the
			// mounter's user namespace owns: bind the host's, read-only.
			ro := *mo
			ro.recursive = true
			ro.set |= unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
			ro.clr = 0
			if err := m.bindHost("/sys", p.dest, h, &ro); err != nil {
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
			fstype = "cgroup2"
			err = m.newMount("cgroup2", orDefault(mt.Source, "cgroup2"), p.dest, h, mo)
		}
		if errors.Is(err, unix.EPERM) && (m.userns || !v2) {
			b := *mo
			b.recursive = true
			if err := m.bindHost("/sys/fs/cgroup", p.dest, h, &b); err != nil {
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
		if err := m.newMount("devpts", orDefault(mt.Source, "devpts"), p.dest, h, mo); err != nil {
			return fail("mount", "mount devpts on", p.dest, err)
		}
	default:
		if err := m.newMount(mt.Type, orDefault(mt.Source, mt.Type), p.dest, h, mo); err != nil {
			return fail("mount", "mount "+mt.Type+" on", p.dest, err)
		}
	}
	if mo.prop != 0 {
		if err := m.propagate(m.made[len(m.made)-1], mo.prop); err != nil {
			return err
		}
	}
	if d := mo.dataString(); d != "" {
		m.report("%s on %s (%s)", fstype, p.dest, d)
	} else {
		m.report("%s on %s", fstype, p.dest)
	}
	return nil
}

// newMount makes a new file system and attaches it on the handle h of
// dest, and records it.
func (m *mounter) newMount(fstype, source, dest string, h *os.File, mo *mountOptions) error {
	mfd, err := newFS(fstype, source, mo)
	if err != nil {
		return err
	}
	if err := attach(mfd, h); err != nil {
		mfd.Close()
		return err
	}
	return m.track(dest, fstype, mfd, true)
}

// bindHost attaches a clone of the host mount n on the handle h of dest,
// with mo's attributes, and records it.
func (m *mounter) bindHost(n, dest string, h *os.File, mo *mountOptions) error {
	tree, err := m.hostClone(n)
	if err != nil {
		return err
	}
	if _, err := m.bindTree(tree, h, mo); err != nil {
		tree.Close()
		return err
	}
	return m.track(dest, "bind", tree, true)
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

// propagate sets the propagation of a mount made here, through its handle.
func (m *mounter) propagate(mf *mountedFS, prop uintptr) error {
	p, rec := propagationAttr(prop)
	flags := unix.AT_EMPTY_PATH
	if rec {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(mf.fd.Fd()), "", uint(flags), &unix.MountAttr{Propagation: p}); err != nil {
		return fail("mount", "set propagation", mf.dest, err)
	}
	return nil
}

// bind clones the mount (tree, with a recursive mo) at src and attaches
// it on dst with mo's attributes; the attached clone is returned.
func (m *mounter) bind(src, dst *os.File, mo *mountOptions) (*os.File, error) {
	tree, err := cloneTree(src, mo.recursive)
	if err != nil {
		return nil, err
	}
	if _, err := m.bindTree(tree, dst, mo); err != nil {
		tree.Close()
		return nil, err
	}
	return tree, nil
}

// bindTree applies the asked attributes to the detached clone tree
// (recursively with rbind) and attaches it on dst. In a user namespace the
// flags the kernel locked on the source (those of the host's mount, which
// the clone, made before anything changed, still has) are kept: asking to
// clear one is reported, not an error, since the result is stricter than
// asked.
func (m *mounter) bindTree(tree, dst *os.File, mo *mountOptions) (string, error) {
	rec := 0
	if mo.recursive {
		rec = unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: mo.set, Attr_clr: mo.clr}
	var note string
	if m.userns {
		locked, err := statfsAttrs(int(tree.Fd()))
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
		if err := unix.MountSetattr(int(tree.Fd()), "", uint(unix.AT_EMPTY_PATH|rec), &attr); err != nil {
			return "", fmt.Errorf("mount_setattr %s: %w", attrNames(attr.Attr_set), err)
		}
	}
	if err := attach(tree, dst); err != nil {
		return "", err
	}
	if mo.prop != 0 {
		p, r := propagationAttr(mo.prop)
		pf := unix.AT_EMPTY_PATH
		if r {
			pf |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(int(tree.Fd()), "", uint(pf), &unix.MountAttr{Propagation: p}); err != nil {
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
