package nsinit

import (
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

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
		m.made[len(m.made)-1].prop = mo.prop
		kind := "bind"
		if mo.recursive {
			kind = "rbind"
		}
		if mo.idmap {
			note += " (id-mapped through the sandbox's user namespace by the launcher)"
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
			ro.set |= unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
			ro.clr = 0
			if err := m.bindHost("/sys", p.dest, h, ro.everywhere()); err != nil {
				return fail("mount", "bind host /sys read-only (sysfs refused without a network namespace)", p.dest, err)
			}
			m.report("sysfs on %s: host /sys bound read-only (no network namespace of its own, so the kernel refuses a new sysfs)", p.dest)
			return nil
		}
		if err != nil {
			return fail("mount", "mount sysfs on", p.dest, err)
		}
	case "cgroup", "cgroup2":
		return m.mountCgroup(p, h)
	case "devpts":
		m.fixDevpts(mo)
		if err := m.newMount("devpts", orDefault(mt.Source, "devpts"), p.dest, h, mo); err != nil {
			return fail("mount", "mount devpts on", p.dest, err)
		}
	default:
		if err := m.newMount(mt.Type, orDefault(mt.Source, mt.Type), p.dest, h, mo); err != nil {
			if e := (*sandbox.SetupError)(nil); errors.As(err, &e) {
				return err // tmpcopyup's, naming the file
			}
			return fail("mount", "mount "+mt.Type+" on", p.dest, err)
		}
	}
	m.made[len(m.made)-1].prop = mo.prop
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
	if mo.copyUp {
		if err := copyUp(h, mfd, dest); err != nil {
			mfd.Close()
			return err
		}
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
