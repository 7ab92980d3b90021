// Command probe prints, one "key=value" line each and sorted, what a
// process sees of its sandbox: ids, capability sets, no_new_privs, seccomp
// mode and the result of a few syscalls, rlimits, mounts with their options
// and propagation, chosen paths, /dev, its cgroups and their limits,
// namespaces, environment, cwd and hostname. The conformance suite
// (integration/conformance_test.go) builds it static (CGO_ENABLED=0), runs
// it in the same bundle under sandboxrun and under runc or crun, and
// compares the lines.
//
// Arguments: --host-ns=NAME:INODE,... (the caller's namespaces, so that
// each one reads "host" or "new"), then the paths to describe.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var out = map[string]string{}

func put(k, v string) { out[k] = v }

func main() {
	hostNS := map[string]string{}
	var paths []string
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "--host-ns="); ok {
			for _, kv := range strings.Split(v, ",") {
				if n, ino, ok := strings.Cut(kv, ":"); ok {
					hostNS[n] = ino
				}
			}
			continue
		}
		paths = append(paths, a)
	}
	// Namespaces first: the syscall tests below unshare on a thread.
	namespaces(hostNS)
	ids()
	status()
	rlimits()
	mounts()
	for _, p := range paths {
		describe("path:"+p, p)
	}
	devices()
	cgroups()
	environment()
	syscalls()
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, out[k])
	}
	os.Stdout.WriteString(b.String())
}

// errName is "ok" for nil, otherwise the errno's name (EPERM, ...).
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var en unix.Errno
	for e := err; e != nil; {
		if x, ok := e.(unix.Errno); ok {
			en = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if en == 0 {
		return "error"
	}
	if n := unix.ErrnoName(en); n != "" {
		return n
	}
	return strconv.Itoa(int(en))
}

func namespaces(host map[string]string) {
	ents, _ := os.ReadDir("/proc/self/ns")
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/ns/" + e.Name())
		if err != nil {
			put("ns."+e.Name(), errName(err))
			continue
		}
		_, ino, _ := strings.Cut(l, ":")
		switch h, ok := host[e.Name()]; {
		case !ok:
			put("ns."+e.Name(), "unknown")
		case h == ino:
			put("ns."+e.Name(), "host")
		default:
			put("ns."+e.Name(), "new")
		}
	}
}

func ids() {
	r, e, s := unix.Getresuid()
	put("uid", fmt.Sprintf("%d %d %d", r, e, s))
	r, e, s = unix.Getresgid()
	put("gid", fmt.Sprintf("%d %d %d", r, e, s))
	gs, _ := unix.Getgroups()
	sort.Ints(gs)
	put("groups", strings.Trim(fmt.Sprint(gs), "[]"))
	put("pid", strconv.Itoa(os.Getpid()))
	put("ppid", strconv.Itoa(os.Getppid()))
	for _, f := range []string{"uid_map", "gid_map", "setgroups", "oom_score_adj"} {
		b, err := os.ReadFile("/proc/self/" + f)
		if err != nil {
			put(f, errName(err))
			continue
		}
		put(f, strings.Join(strings.Fields(string(b)), " "))
	}
}

func status() {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "Umask":
			put(k, strings.TrimSpace(v))
		}
	}
}

var rlimitNames = []string{"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"}

func rlimits() {
	lim := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	for i, n := range rlimitNames {
		var rl unix.Rlimit
		if err := unix.Prlimit(0, i, nil, &rl); err != nil {
			put("rlimit."+n, errName(err))
			continue
		}
		put("rlimit."+n, lim(rl.Cur)+" "+lim(rl.Max))
	}
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// volatileSuper are super-block options whose values depend on the host
// or the moment, not on the config.
// (resuid and resgid: the host file system's reserve for a host id).
var volatileSuper = map[string]bool{"inode64": true, "nr_inodes": true, "seclabel": true, "resuid": true, "resgid": true}

// idMap is a /proc/self/uid_map or gid_map.
type idMap [][3]uint64

func readIDMap(file string) idMap {
	b, _ := os.ReadFile(file)
	var m idMap
	for _, l := range strings.Split(string(b), "\n") {
		var e [3]uint64
		if n, _ := fmt.Sscan(l, &e[0], &e[1], &e[2]); n == 3 {
			m = append(m, e)
		}
	}
	return m
}

// inside maps a host id (decimal) to this user namespace's, or "host:ID"
// when it is not mapped.
func (m idMap) inside(host string) string {
	h, err := strconv.ParseUint(host, 10, 32)
	if err != nil {
		return host
	}
	for _, e := range m {
		if h >= e[1] && h-e[1] < e[2] {
			return strconv.FormatUint(e[0]+h-e[1], 10)
		}
	}
	return "host:" + host
}

// idMaps are the super-block options that carry ids, with their map.
var idMaps = map[string]idMap{}

// mounts describes every mount of /proc/self/mountinfo as
// "mount:POINT[#N]" = "FSTYPE per-mount-opts super-opts propagation";
// source devices and peer group numbers are host facts and left out.
func mounts() {
	uids, gids := readIDMap("/proc/self/uid_map"), readIDMap("/proc/self/gid_map")
	idMaps = map[string]idMap{"uid": uids, "gid": gids}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	seen := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 10 {
			continue
		}
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+2 >= len(f) {
			continue
		}
		point := unescape(f[4])
		var prop []string
		for _, o := range f[6:sep] {
			switch k, _, _ := strings.Cut(o, ":"); k {
			case "shared":
				prop = append(prop, "shared")
			case "master":
				prop = append(prop, "slave")
			case "unbindable":
				prop = append(prop, "unbindable")
			}
		}
		if len(prop) == 0 {
			prop = []string{"private"}
		}
		opts := strings.Split(f[5], ",")
		sort.Strings(opts)
		var super []string
		if sep+3 < len(f) {
			for _, o := range strings.Split(f[sep+3], ",") {
				k, v, _ := strings.Cut(o, "=")
				if volatileSuper[k] || o == "rw" || o == "ro" {
					continue
				}
				if m := idMaps[k]; m != nil {
					// The kernel prints host ids, and leaves out host root.
					if o = k + "=" + m.inside(v); o == k+"=0" {
						continue
					}
				}
				super = append(super, o)
			}
		}
		sort.Strings(super)
		key := "mount:" + point
		seen[point]++
		if n := seen[point]; n > 1 {
			key += "#" + strconv.Itoa(n)
		}
		put(key, f[sep+1]+" "+strings.Join(opts, ",")+" ["+strings.Join(super, ",")+"] "+strings.Join(prop, ","))
	}
}

// describe says what p is (type, mode, device numbers), whether it opens
// for reading (and gives data), and the flags of the file system it is on
// (statfs: ro, nosuid, nodev, noexec); its owner goes to "owner:"+key,
// apart, since ids from outside a user namespace read as the overflow id.
func describe(key, p string) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		put(key, errName(err))
		return
	}
	put("owner:"+key, fmt.Sprintf("%d:%d", st.Uid, st.Gid))
	kind := map[uint32]string{unix.S_IFREG: "file", unix.S_IFDIR: "dir", unix.S_IFLNK: "link",
		unix.S_IFCHR: "chr", unix.S_IFBLK: "blk", unix.S_IFIFO: "fifo", unix.S_IFSOCK: "sock"}[st.Mode&unix.S_IFMT]
	v := fmt.Sprintf("%s %04o", kind, st.Mode&0o7777)
	if kind == "chr" || kind == "blk" {
		v += fmt.Sprintf(" %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	if kind == "link" {
		t, _ := os.Readlink(p)
		put(key, v+" -> "+t)
		return
	}
	read := "r:"
	switch kind {
	case "dir":
		ents, err := os.ReadDir(p)
		switch {
		case err != nil:
			read += errName(err)
		case len(ents) == 0:
			read += "empty"
		default:
			read += "entries"
		}
	case "file", "chr":
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			read += errName(err)
			break
		}
		buf := make([]byte, 1)
		n, err := unix.Read(fd, buf)
		unix.Close(fd)
		switch {
		case err != nil:
			read += "open,read " + errName(err)
		case n == 0:
			read += "empty"
		default:
			read += "data"
		}
	}
	var sf unix.Statfs_t
	fs := "fs:"
	if err := unix.Statfs(p, &sf); err != nil {
		fs += errName(err)
	} else {
		var fl []string
		for _, f := range []struct {
			bit  int64
			name string
		}{{unix.ST_RDONLY, "ro"}, {unix.ST_NOSUID, "nosuid"}, {unix.ST_NODEV, "nodev"}, {unix.ST_NOEXEC, "noexec"}} {
			if sf.Flags&f.bit != 0 {
				fl = append(fl, f.name)
			}
		}
		fs += strings.Join(fl, ",")
	}
	put(key, v+" "+read+" "+fs)
}

// devices lists /dev (one level, and /dev/pts, /dev/mqueue owner) and opens
// the standard devices for reading and writing.
func devices() {
	ents, err := os.ReadDir("/dev")
	if err != nil {
		put("dev", errName(err))
		return
	}
	for _, e := range ents {
		describe("dev:"+e.Name(), "/dev/"+e.Name())
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty", "ptmx"} {
		fd, err := unix.Open("/dev/"+n, unix.O_RDWR|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		put("devopen:"+n, errName(err))
	}
}

// cgroups prints /proc/self/cgroup and the memory and pids limits the
// process can read: at the root of the mounted hierarchy and at its own
// path below it.
func cgroups() {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		put("cgroup", errName(err))
		return
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		name := parts[1]
		if name == "" {
			name = "unified"
		}
		put("cgroup:"+name, parts[2])
		dir := "/sys/fs/cgroup/" + name
		for _, file := range cgroupLimitFiles[name] {
			for _, where := range []string{"root", "own"} {
				d := dir
				if where == "own" {
					d = filepath.Join(dir, parts[2])
				}
				v, err := os.ReadFile(filepath.Join(d, file))
				s := strings.TrimSpace(string(v))
				if err != nil {
					s = errName(err)
				}
				put("cgrouplimit:"+name+"/"+file+"@"+where, s)
			}
		}
	}
}

// cgroupLimitFiles are the limit files read per hierarchy ("unified" is
// the cgroup2 tree, at /sys/fs/cgroup/unified on a hybrid host).
var cgroupLimitFiles = map[string][]string{
	"memory":  {"memory.limit_in_bytes"},
	"pids":    {"pids.max"},
	"unified": {"memory.max", "pids.max"},
}

func environment() {
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		put("env:"+k, v)
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = errName(err)
	}
	put("cwd", wd)
	var u unix.Utsname
	unix.Uname(&u)
	put("hostname", unix.ByteSliceToString(u.Nodename[:]))
	put("domainname", unix.ByteSliceToString(u.Domainname[:]))
}

// syscalls tries a few operations that capabilities, seccomp and the
// namespaces decide; each undoes itself.
func syscalls() {
	var u unix.Utsname
	unix.Uname(&u)
	put("sys.sethostname", errName(unix.Sethostname(u.Nodename[:len(unix.ByteSliceToString(u.Nodename[:]))])))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	put("sys.socket_packet", errName(err))
	const node = "/dev/shm/probe-node"
	err = unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3)))
	if err == nil {
		unix.Unlink(node)
	}
	put("sys.mknod_dev_shm", errName(err))
	const dir = "/dev/shm/probe-dir"
	err = unix.Mkdir(dir, 0o700)
	if err == nil {
		unix.Rmdir(dir)
	}
	put("sys.mkdir_dev_shm", errName(err))
	_, err = unix.Getcwd(make([]byte, 4096))
	put("sys.getcwd", errName(err))
	err = unix.Mount("none", "/dev/shm", "tmpfs", 0, "size=1k")
	if err == nil {
		unix.Unmount("/dev/shm", unix.MNT_DETACH)
	}
	put("sys.mount_tmpfs", errName(err))
	// The raw syscall changes one thread's ids (libc and Go's wrappers
	// change every thread's).
	put("sys.seteuid_1", errName(onThread(func() error {
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 1, ^uintptr(0)); e != 0 {
			return e
		}
		return nil
	})))
	put("sys.unshare_net", errName(onThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) })))
}

// onThread runs f on a locked OS thread that ends with it, so that what f
// changes (its namespaces, its ids) leaves the process as it was.
func onThread(f func() error) error {
	res := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits
		res <- f()
	}()
	return <-res
}
