package nsinit

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// propagationFlags maps rootfsPropagation to mount flags; "" is rslave.
func propagationFlags(p string) (uintptr, bool) {
	if p == "" {
		p = "rslave"
	}
	f, ok := propagationOptions.Get(p)
	return f, ok
}

// propagateAll sets the propagation the mount list asked for on each mount
// made, in order, once the root is final: after the root was made rslave
// and the old root detached, as runc applies its propagation flags after
// its rslave step, so that a lone "shared" mount stays shared.
func (m *mounter) propagateAll() error {
	for _, mf := range m.made {
		if mf.prop == 0 {
			continue
		}
		if err := m.propagate(mf, mf.prop); err != nil {
			return err
		}
		m.report("%s on %s", propagationText(mf.prop), mf.dest)
	}
	return nil
}

// propagationText names an MS_* propagation flag as the option did.
func propagationText(p uintptr) string {
	for _, o := range propagationOptions {
		if o.Val == p {
			return o.Key
		}
	}
	return fmt.Sprintf("propagation %#x", p)
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

// bindTree applies the asked attributes to the detached clone tree and
// attaches it on dst: first the recursive ones (rro, rnosuid, ...) to every
// mount of the tree with AT_RECURSIVE, then the plain ones to its top mount
// only, as runc does (rbind,ro leaves a submount writable; rbind,rro does
// not). In a user namespace the flags the kernel locked on the source
// (those of the host's mount, which the clone, made before anything
// changed, still has) are kept: asking to clear one is reported, not an
// error, since the result is stricter than asked. Propagation is applied
// at the end of the setup (m.propagateAll).
func (m *mounter) bindTree(tree, dst *os.File, mo *mountOptions) (string, error) {
	var note string
	if !mo.rec.empty() {
		n, err := m.setAttrs(tree, mo.rec, true)
		if err != nil {
			return "", err
		}
		note += n
	}
	n, err := m.setAttrs(tree, attrChange{set: mo.set, clr: mo.clr, atime: mo.atime, atimeSet: mo.atimeSet}, false)
	if err != nil {
		return "", err
	}
	note = n + note
	if err := attach(tree, dst); err != nil {
		return "", err
	}
	return note, nil
}

// setAttrs applies c to the mount tree (and every mount beneath it with
// recursive) and returns what the report says about it.
func (m *mounter) setAttrs(tree *os.File, c attrChange, recursive bool) (string, error) {
	flags := uint(unix.AT_EMPTY_PATH)
	what := ""
	if recursive {
		flags |= unix.AT_RECURSIVE
		what = " recursively"
	}
	attr := unix.MountAttr{Attr_set: c.set, Attr_clr: c.clr}
	var note string
	if m.userns {
		locked, err := statfsAttrs(int(tree.Fd()))
		if err != nil {
			return "", fmt.Errorf("fstatfs: %w", err)
		}
		kept := attr.Attr_clr & locked
		attr.Attr_clr &^= kept
		err = setattr(tree, flags, &attr)
		if errors.Is(err, unix.EPERM) && recursive && attr.Attr_clr != 0 {
			// A submount has a locked flag of its own.
			kept |= attr.Attr_clr
			attr.Attr_clr = 0
			err = setattr(tree, flags, &attr)
		}
		if err != nil {
			return "", err
		}
		if kept != 0 {
			note = " (kept " + attrNames(kept) + what + ": locked by the kernel in a user namespace)"
			m.inexact("%s set%s: the kernel locked it in a user namespace (stricter than asked)", attrNames(kept), what)
		}
		if c.atimeSet && !atimeIs(tree, c.atime) {
			// Only setup's own binds of a new file system's stand-in
			// get here: Validate refuses atime options on a bind in a
			// user namespace.
			note += " (atime mode kept from the host: locked in a user namespace)"
			m.inexact("atime mode%s: the host's is kept (locked in a user namespace)", what)
		}
	} else {
		if c.atimeSet {
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
			attr.Attr_set |= c.atime
		}
		if err := setattr(tree, flags, &attr); err != nil {
			return "", err
		}
	}
	if s := attrNames(attr.Attr_set); s != "" {
		note = " (" + s + what + ")" + note
	}
	return note, nil
}

// atimeIs reports whether the mount tree has the atime mode a.
func atimeIs(tree *os.File, a uint64) bool {
	got, err := statfsAtime(int(tree.Fd()))
	return err == nil && got == a
}

// inexact records, for --strict, that what the current mount asked for
// was not applied exactly.
func (m *mounter) inexact(format string, args ...any) {
	label := m.cur
	if label == "" {
		label = "mount"
	}
	m.a.Inexact = append(m.a.Inexact, label+": "+fmt.Sprintf(format, args...))
}

// setattr calls mount_setattr on the mount fd unless attr changes nothing.
func setattr(fd *os.File, flags uint, attr *unix.MountAttr) error {
	if attr.Attr_set|attr.Attr_clr == 0 {
		return nil
	}
	if err := unix.MountSetattr(int(fd.Fd()), "", flags, attr); err != nil {
		return fmt.Errorf("mount_setattr %s%s: %w", attrNames(attr.Attr_set), clearedNames(attr.Attr_clr), err)
	}
	return nil
}

func clearedNames(a uint64) string {
	if s := attrNames(a &^ unix.MOUNT_ATTR__ATIME); s != "" {
		return " clear " + s
	}
	return ""
}

func propagationName(p string) string {
	if p == "" {
		return "rslave"
	}
	return p
}
