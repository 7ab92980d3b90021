package fork

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// The parent's half of id-mapped binds (mount options idmap and ridmap).
// mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN in the user namespace
// that owns the source's file system, the host's, which the sandbox's own
// user namespace never has. So the launcher, root in the initial user
// namespace, clones each source (open_tree OPEN_TREE_CLONE, recursive for
// rbind) once the child's id maps are written, maps the clone through the
// child's user namespace (AT_RECURSIVE for ridmap), and sends the detached
// clones after the request (wire.KindMounts); the child attaches them in
// its mount step like any other bind clone.

// idmapMount is one id-mapped bind of the mount list.
type idmapMount struct {
	idx          int // in Options.Mounts
	src, opt     string
	recursiveMap bool
	rbind        bool
}

// planIDMapMounts finds the id-mapped binds and refuses, before anything
// starts, what the launcher cannot make: it is not root in the initial
// user namespace (rootless), or the child joins a mount namespace, where
// the source would name something else than in the launcher's.
func planIDMapMounts(o *sandbox.Options, joins []specs.LinuxNamespace) ([]idmapMount, error) {
	var out []idmapMount
	for i, m := range o.Mounts {
		mapped, rec, rbind := sandbox.MountIDMap(m)
		if !mapped {
			continue
		}
		im := idmapMount{idx: i, src: m.Source, opt: "idmap", recursiveMap: rec, rbind: rbind}
		if rec {
			im.opt = "ridmap"
		}
		for _, ns := range joins {
			if ns.Type == specs.MountNamespace {
				return nil, im.fail("the launcher resolves the source in its own mount namespace, and the sandbox joins another ("+ns.Path+")", unix.EINVAL)
			}
		}
		if !MapsMounts() {
			return nil, im.fail("MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the source's file system (the host's user namespace), which only a launcher that is root in the initial user namespace has", unix.EPERM)
		}
		if len(out) == wire.MaxRights {
			return nil, im.fail(fmt.Sprintf("more than %d id-mapped binds", wire.MaxRights), unix.E2BIG)
		}
		out = append(out, im)
	}
	return out, nil
}

// MapsMounts reports whether this process can make id-mapped binds (mount
// options idmap and ridmap): it is root in the initial user namespace
// (sandbox.RootInInitialUserNS).
func MapsMounts() bool { return sandbox.RootInInitialUserNS() }

// fail is the error for this mount: the option, the source, why and the
// errno.
func (im *idmapMount) fail(why string, err error) error {
	return sandbox.NewSetupError("mount", fmt.Sprintf("mounts[%d].options %s", im.idx, im.opt), im.src, fmt.Errorf("%s: %w", why, err))
}

// failAt is the error for this mount's source: the link refused (its
// path), or the open that failed.
func (im *idmapMount) failAt(err error) error {
	var le *sourceLinkError
	if errors.As(err, &le) {
		return sandbox.NewSetupError("mount", fmt.Sprintf("mounts[%d].options %s", im.idx, im.opt), im.src, err)
	}
	return im.fail("open the source", err)
}

// makeIDMapMounts clones and maps every id-mapped bind through the user
// namespace of the child pid, whose id maps are written. On error nothing
// is left open.
func makeIDMapMounts(ims []idmapMount, pid int) ([]*os.File, error) {
	if len(ims) == 0 {
		return nil, nil
	}
	nsPath := "/proc/" + strconv.Itoa(pid) + "/ns/user"
	ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, sandbox.NewSetupError("mount", "open the sandbox's user namespace", nsPath, err)
	}
	defer unix.Close(ns)
	var files []*os.File
	for i := range ims {
		f, err := ims[i].make(ns)
		if err != nil {
			closeFiles(files)
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// make clones the source and sets MOUNT_ATTR_IDMAP on the clone.
func (im *idmapMount) make(ns int) (*os.File, error) {
	src, err := openSource(im.src)
	if err != nil {
		return nil, im.failAt(err)
	}
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if im.rbind {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(src, "", uint(flags))
	unix.Close(src)
	if err != nil {
		return nil, im.fail("open_tree (clone the source)", err)
	}
	attrFlags := uint(unix.AT_EMPTY_PATH)
	if im.recursiveMap {
		attrFlags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}
	if err := unix.MountSetattr(fd, "", attrFlags, &attr); err != nil {
		unix.Close(fd)
		why := "mount_setattr MOUNT_ATTR_IDMAP"
		if errors.Is(err, unix.EINVAL) {
			why += " (the file system may not support id-mapped mounts)"
		}
		return nil, im.fail(why, err)
	}
	return os.NewFile(uintptr(fd), im.src), nil
}

// sendIDMapMounts sends the clones after the request, their mount indexes
// as the payload; the caller closes them.
func sendIDMapMounts(ctrl *os.File, ims []idmapMount, files []*os.File) error {
	if len(files) == 0 {
		return nil
	}
	idx := make([]int, len(ims))
	for i, im := range ims {
		idx[i] = im.idx
	}
	return writeFrameRights(ctrl, wire.KindMounts, wire.EncodeIndexes(idx), files)
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
