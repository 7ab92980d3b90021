package nsinit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// devices is the minimal device set of a tmpfs /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = [][2]string{
	{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}

// populateDev fills a tmpfs mounted on /dev, as runc does with its default
// devices: null, zero, full, random, urandom and tty (mknod as real root,
// bind mounts of the host's nodes in a user namespace, where a tmpfs
// cannot hold usable device nodes); the fd, stdin, stdout, stderr and ptmx
// symlinks; and a devpts on /dev/pts (newinstance, ptmxmode=0666) and a
// tmpfs on /dev/shm unless the mount list has its own. What the mount list
// put there already is left alone.
func (m *mounter) populateDev() error {
	dev, err := m.target("/dev", true)
	if err != nil {
		return fail("mount", "open", "/dev", err)
	}
	defer dev.Close()
	dfd := int(dev.Fd())
	exists := func(name string) bool {
		var st unix.Stat_t
		return unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	}
	var made []string
	for _, d := range devices {
		if exists(d.name) {
			continue
		}
		if !m.userns {
			err := unix.Mknodat(dfd, d.name, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor)))
			if err == nil {
				if err := unix.Fchmodat(dfd, d.name, 0o666, 0); err != nil {
					return fail("mount", "chmod", "/dev/"+d.name, err)
				}
				made = append(made, d.name)
				continue
			}
			if !errors.Is(err, unix.EPERM) || m.host["/dev/"+d.name] == nil {
				return fail("mount", "mknod", "/dev/"+d.name, err)
			}
		}
		fd, err := unix.Openat(dfd, d.name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return fail("mount", "create", "/dev/"+d.name, err)
		}
		f := os.NewFile(uintptr(fd), "/dev/"+d.name)
		tree, err := m.hostClone("/dev/" + d.name)
		if err == nil {
			// nosuid and noexec, as runc's bound device nodes.
			_, err = m.bindTree(tree, f, &mountOptions{bind: true, set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC})
			tree.Close()
		}
		f.Close()
		if err != nil {
			return fail("mount", "bind host device", "/dev/"+d.name, err)
		}
		made = append(made, d.name+" (bind)")
	}
	for _, l := range devLinks {
		if exists(l[0]) {
			continue
		}
		if err := unix.Symlinkat(l[1], dfd, l[0]); err != nil {
			return fail("mount", "symlink", "/dev/"+l[0], err)
		}
	}
	m.report("minimal /dev: %s", strings.Join(made, ", "))
	// pts and shm are made in our own tmpfs, so also when the root is the
	// host's (where nothing else is ever created).
	for _, d := range []string{"pts", "shm"} {
		if err := unix.Mkdirat(dfd, d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fail("mount", "mkdir", "/dev/"+d, err)
		}
	}
	if !m.planned("/dev/pts") {
		mo := &mountOptions{msFlags: unix.MS_NOSUID | unix.MS_NOEXEC, data: []string{"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}
		if err := m.devMount("pts", "devpts", mo); err != nil {
			return err
		}
	}
	if !m.planned("/dev/shm") {
		mo := &mountOptions{msFlags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, data: []string{"mode=1777"}}
		if err := m.devMount("shm", "tmpfs", mo); err != nil {
			return err
		}
	}
	return nil
}

func (m *mounter) devMount(name, fstype string, mo *mountOptions) error {
	p := "/dev/" + name
	h, err := m.target(p, true)
	if err != nil {
		return fail("mount", fstype+" destination", p, err)
	}
	defer h.Close()
	if fstype == "devpts" {
		m.fixDevpts(mo)
	}
	if err := m.newMount(fstype, fstype, p, h, mo); err != nil {
		return fail("mount", "mount "+fstype+" on", p, err)
	}
	m.report("%s on %s (%s)", fstype, p, mo.dataString())
	return nil
}

// fixDevpts drops a gid= option naming a group that is not mapped in the
// sandbox's user namespace (the kernel refuses the mount with EINVAL; the
// OCI default config has gid=5, which a rootless map rarely holds).
func (m *mounter) fixDevpts(mo *mountOptions) {
	if !m.userns {
		return
	}
	kept := mo.data[:0:0]
	for _, d := range mo.data {
		if g, ok := strings.CutPrefix(d, "gid="); ok {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && !gidMapped(uint32(n)) {
				m.report("devpts: %s dropped (gid not mapped in the user namespace)", d)
				continue
			}
		}
		kept = append(kept, d)
	}
	mo.data = kept
}

func gidMapped(g uint32) bool {
	f, err := os.Open("/proc/self/gid_map")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var in, out, n uint64
		if _, err := fmt.Sscan(s.Text(), &in, &out, &n); err == nil && uint64(g) >= in && uint64(g) < in+n {
			return true
		}
	}
	return false
}
