package nsinit

import (
	"errors"
	"fmt"
	"os"
	"path"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

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
//     destination. sysfs is read-only unless the mount says rw. A bind's
//     recursive attributes (rro, ...) reach every mount of its tree, its
//     plain ones only the top mount (as runc), set on the detached clone.
//  5. A tmpfs mounted on /dev is populated with the minimal device set.
//  6. Read-only and masked paths, in every mode: runc's default lists
//     unless the Options give their own, applied to every /proc mounted
//     here (whatever its destination) through that mount's descriptor
//     (see mask_linux.go).
//  7. pivot_root into the root file system and detach the old root, or
//     MS_MOVE + chroot where pivot_root is refused (an initramfs root);
//     then the root is made read-only if asked, and gets its propagation.
//  8. The propagation each mount asked for (shared, rslave, ...), now
//     that nothing makes the tree rslave any more: a lone shared mount
//     stays shared, as with runc.
//  9. Every mount of the list that is still visible is looked up again at
//     its destination in the final root and must be the very mount made
//     (its mount id; a procfs for proc): a destination renamed or swapped
//     by whoever can write the root file system fails the setup.
//  10. The working directory kept from the caller is placed in the view:
//     where a mount made here is at its path or above it, it is the view's
//     directory there, or, where the view has none, the caller's directory
//     bound alone at its path (mounts_cwd_linux.go).
//
// Steps 1 to 5 are the step "mount"; 6 to 10 the step "mount finish", after
// the step "sysctl", which writes through the /proc mounted here while
// /proc/sys is still writable. The mounter lives from one to the other in
// the child's c.mnt.
func stepMounts(c *child) error {
	o := c.o
	if !o.NewNamespace(specs.MountNamespace) {
		return nil
	}
	c.mnt = &mounter{o: o, cfg: c.cfg, a: c.a, userns: o.NewNamespace(specs.UserNamespace), host: map[string]*hostTree{}}
	return c.mnt.run()
}

// stepMountsFinish is steps 6 to 10 of stepMounts.
func stepMountsFinish(c *child) error {
	m := c.mnt
	if m == nil {
		return nil
	}
	defer c.closeMounter()
	return m.finish()
}

// mounter holds what stepMounts works with.
type mounter struct {
	o      *sandbox.Options
	cfg    Config
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
	// cgroups are the own cgroup directories a cgroup mount binds.
	cgroups *cgroupView
	// cur names the mount of the list being made ("mounts[2] /data"), for
	// the report.
	cur string
	// made are the mounts made so far, in order.
	made []*mountedFS
	// idmapped are the parent's id-mapped clones of idmap and ridmap
	// binds, by index in o.Mounts, until prepare takes them.
	idmapped map[int]*os.File
	// cwd is the inherited working directory and cwdPath its path, while
	// it is to be placed in the view (mounts_cwd_linux.go).
	cwd     *os.File
	cwdPath string
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
	idx    int // in o.Mounts; -1 for the default /proc
	m      specs.Mount
	dest   string
	mo     *mountOptions
	tree   *os.File // a bind's source, cloned before anything is mounted
	srcDir bool
}

func (m *mounter) close() {
	m.closeCwd()
	if m.root != nil {
		m.root.Close()
	}
	for _, f := range m.idmapped {
		f.Close()
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
	s := fmt.Sprintf(format, args...)
	if m.cur != "" {
		s = m.cur + ": " + s
	}
	m.a.Mounts = append(m.a.Mounts, s)
}

// run is steps 1 to 5 (see stepMounts).
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

	// 2. Check everything before mounting anything; hold the working
	// directory.
	if err := m.holdCwd(); err != nil {
		return err
	}
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
		m.cur = fmt.Sprintf("mounts[%d] %s", p.idx, p.dest)
		if p.idx < 0 {
			m.cur = "default " + p.dest
		}
		if err := m.mount(p); err != nil {
			return err
		}
	}
	m.cur = ""
	// 5. The minimal /dev.
	if m.devTmpfs() != nil {
		return m.populateDev()
	}
	return nil
}

// finish is steps 6 to 10 (see stepMounts).
func (m *mounter) finish() error {
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
	// 8. The propagation the mount list asked for, after the rslave steps.
	if err := m.propagateAll(); err != nil {
		return err
	}
	// 9. Every mount where it was made.
	if err := m.verify(); err != nil {
		return err
	}
	// 10. The working directory in the view.
	return m.placeCwd()
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
