package nsinit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// A cgroup or cgroup2 mount of the list shows the sandbox only its own
// cgroups, as crun does, never the layout of the host's whole tree: a new
// cgroup2 file system where the sandbox has a cgroup namespace of its own
// (its root is the sandbox's cgroup) and the kernel allows it; otherwise
// the sandbox's own cgroup directory of each hierarchy the host mounts
// under /sys/fs/cgroup, bound onto the same name in a tmpfs at the
// destination (or, where /sys/fs/cgroup is itself a cgroup2 mount, bound
// onto the destination directly). The tmpfs gets the host's symlinks
// (cpu -> cpu,cpuacct) and the mount's flags once it is filled.

const hostCgroupRoot = "/sys/fs/cgroup"

// cgroupDir is one hierarchy's own cgroup: name is the directory under
// /sys/fs/cgroup ("" when /sys/fs/cgroup is the cgroup2 mount), own the
// host path of the sandbox's cgroup in it.
type cgroupDir struct {
	name, own string
}

// cgroupView is what prepare found for the cgroup mounts.
type cgroupView struct {
	dirs  []cgroupDir
	links [][2]string // name, target
}

// readProcFile reads a file of /proc through a descriptor checked to be on
// a procfs.
func readProcFile(p string) (string, error) {
	f, err := openProc(p, unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

// ownCgroupDirs finds, from /proc/self/mountinfo and /proc/self/cgroup (read
// before the child made its cgroup namespace), the sandbox's own cgroup
// directory in every cgroup hierarchy mounted at or under /sys/fs/cgroup.
func ownCgroupDirs(mountinfo, self string) ([]cgroupDir, error) {
	var dirs []cgroupDir
	for _, l := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") {
			continue
		}
		root, mp := f[3], f[4]
		var name string
		switch {
		case mp == hostCgroupRoot:
		case strings.HasPrefix(mp, hostCgroupRoot+"/") && !strings.Contains(mp[len(hostCgroupRoot)+1:], "/"):
			name = mp[len(hostCgroupRoot)+1:]
		default:
			continue
		}
		p, err := ownCgroupPath(self, g[0] == "cgroup2", strings.Split(g[2], ","))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mp, err)
		}
		rel, ok := strings.CutPrefix(p, strings.TrimSuffix(root, "/"))
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			return nil, fmt.Errorf("%w: %s: the own cgroup %s is outside the mount's root %s", unix.ENOENT, mp, p, root)
		}
		dirs = append(dirs, cgroupDir{name: name, own: path.Clean(mp + rel)})
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: no cgroup hierarchy mounted at %s", unix.ENOENT, hostCgroupRoot)
	}
	return dirs, nil
}

// ownCgroupPath returns the process's cgroup in the hierarchy with the
// super options opts (v1: its controllers and name=) or in cgroup2.
func ownCgroupPath(self string, v2 bool, opts []string) (string, error) {
	for _, l := range strings.Split(strings.TrimSpace(self), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 {
			if parts[0] == "0" && parts[1] == "" {
				return parts[2], nil
			}
			continue
		}
		if parts[1] == "" {
			continue
		}
		match := true
		for _, c := range strings.Split(parts[1], ",") {
			match = match && slices.Contains(opts, c)
		}
		if match {
			return parts[2], nil
		}
	}
	return "", fmt.Errorf("%w: not in /proc/self/cgroup", unix.ENOENT)
}

// prepareCgroups clones the own cgroup directories before anything is
// mounted.
func (m *mounter) prepareCgroups() error {
	dirs, err := ownCgroupDirs(m.a.selfMountinfo, m.a.selfCgroup)
	if err != nil {
		return fail("mount", "find the own cgroups ("+err.Error()+")", hostCgroupRoot, err)
	}
	v := &cgroupView{dirs: dirs}
	if ents, err := os.ReadDir(hostCgroupRoot); err == nil && dirs[0].name != "" {
		for _, e := range ents {
			if e.Type()&os.ModeSymlink == 0 {
				continue
			}
			if t, err := os.Readlink(path.Join(hostCgroupRoot, e.Name())); err == nil && !strings.Contains(t, "/") {
				v.links = append(v.links, [2]string{e.Name(), t})
			}
		}
	}
	for _, d := range dirs {
		f, err := openPath(d.own, unix.O_DIRECTORY)
		if err != nil {
			return fail("mount", "open own cgroup", d.own, err)
		}
		t, err := cloneTree(f, false)
		f.Close()
		if err != nil {
			return fail("mount", "clone own cgroup", d.own, err)
		}
		m.host[d.own] = &hostTree{fd: t}
	}
	m.cgroups = v
	return nil
}

// mountCgroup makes the cgroup mount p on the destination handle h.
func (m *mounter) mountCgroup(p *mountPlan, h *os.File) error {
	mo := p.mo
	var st unix.Statfs_t
	v2 := unix.Statfs(hostCgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	if v2 && LateNamespaces(m.o)&unix.CLONE_NEWCGROUP != 0 {
		err := m.newMount("cgroup2", orDefault(p.m.Source, "cgroup2"), p.dest, h, mo)
		if err == nil {
			m.made[len(m.made)-1].prop = mo.prop
			m.report("cgroup2 on %s (rooted at the sandbox's cgroup namespace)", p.dest)
			return nil
		}
		if !errors.Is(err, unix.EPERM) {
			return fail("mount", "mount cgroup2 on", p.dest, err)
		}
	}
	v := m.cgroups
	if len(v.dirs) == 1 && v.dirs[0].name == "" {
		if err := m.bindHost(v.dirs[0].own, p.dest, h, mo); err != nil {
			return fail("mount", "bind own cgroup "+v.dirs[0].own+" on", p.dest, err)
		}
		m.made[len(m.made)-1].prop = mo.prop
		m.report("%s on %s: the sandbox's own cgroup %s bound%s", p.m.Type, p.dest, v.dirs[0].own, roNote(mo))
		return nil
	}
	tmo := &mountOptions{data: []string{"mode=755"}}
	if err := m.newMount("tmpfs", "cgroup", p.dest, h, tmo); err != nil {
		return fail("mount", "mount tmpfs (the cgroup hierarchies' directory) on", p.dest, err)
	}
	top := m.made[len(m.made)-1]
	var names []string
	for _, d := range v.dirs {
		dest := path.Join(p.dest, d.name)
		if err := unix.Mkdirat(int(top.fd.Fd()), d.name, 0o755); err != nil {
			return fail("mount", "mkdir", dest, err)
		}
		dh, err := openBeneath(top.fd, d.name)
		if err != nil {
			return fail("mount", "open", dest, err)
		}
		err = m.bindHost(d.own, dest, dh, mo)
		dh.Close()
		if err != nil {
			return fail("mount", "bind own cgroup "+d.own+" on", dest, err)
		}
		names = append(names, d.name)
	}
	for _, l := range v.links {
		if err := unix.Symlinkat(l[1], int(top.fd.Fd()), l[0]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fail("mount", "symlink", path.Join(p.dest, l[0]), err)
		}
	}
	attr := unix.MountAttr{Attr_set: mo.set | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := setattr(top.fd, unix.AT_EMPTY_PATH, &attr); err != nil {
		return fail("mount", "set the flags of", p.dest, err)
	}
	top.prop = mo.prop
	m.report("%s on %s: the sandbox's own cgroup of each hierarchy bound%s (%s)", p.m.Type, p.dest, roNote(mo), strings.Join(names, ", "))
	return nil
}
