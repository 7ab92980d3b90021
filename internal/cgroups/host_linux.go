package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// v1Accounting are the v1 hierarchies a sandbox gets a cgroup of its own in
// even without a limit there, for Stats (memory peak and OOM kills, CPU
// time, pids peak); any other hierarchy only when a limit needs it.
var v1Accounting = map[string]bool{"cpu": true, "cpuacct": true, "memory": true, "pids": true}

// v1Controllers are the v1 hierarchies nsfork knows: where a sandbox cgroup
// may be made (see v1Accounting) and where cleanup looks. Named hierarchies
// (name=systemd) are left alone: they carry no limits and belong to the
// init system.
var v1Controllers = []string{
	"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "hugetlb",
	"freezer", "devices", "net_cls", "net_prio", "rdma",
}

// mount is one cgroup mount: where it is, and which directory of the
// hierarchy it shows (mountinfo field 4, "/" unless it is a bind mount of a
// subtree).
type mount struct {
	point string
	root  string
}

// host is everything New needs to know about the machine. discoverHost
// fills it from /proc; tests build one over a fake cgroupfs.
type host struct {
	mode int              // 1 or 2
	v1   map[string]mount // v1 controller -> its mount
	v2   *mount           // the cgroup2 mount, if any
	self map[string]string
	// self maps a v1 controller, or "" for the unified hierarchy, to the
	// caller's cgroup path as /proc/self/cgroup shows it.
	pid  int
	euid int
	// nsRoot: euid 0 of a user namespace other than the initial one,
	// which is not host root (sandbox.RootInInitialUserNS): rootless.
	nsRoot   bool
	procRoot string
	// fakeFS: the tree is plain directories and files (tests), so writes
	// create missing files and directories do not fill themselves.
	fakeFS   bool
	writable func(path string) bool
}

// rootlessCaller reports whether the caller is not host root.
func rootlessCaller() bool { return !sandbox.RootInInitialUserNS() }

// rootless reports whether the caller is not host root: cgroups it may
// make only where they were delegated to its uid.
func (h *host) rootless() bool { return h.euid != 0 || h.nsRoot }

// who names the caller in errors: its uid, and for root of a user
// namespace that it is not host root.
func (h *host) who() string {
	if h.nsRoot {
		return "uid 0 of a user namespace other than the initial one (not host root)"
	}
	return "uid " + strconv.Itoa(h.euid)
}

func discoverHost() (*host, error) {
	h := &host{
		v1:       map[string]mount{},
		pid:      os.Getpid(),
		euid:     os.Geteuid(),
		nsRoot:   os.Geteuid() == 0 && rootlessCaller(),
		procRoot: "/proc",
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, cgError("read", "", "/proc/self/mountinfo", "", err)
	}
	defer f.Close()
	v1, v2, err := parseMountinfo(f)
	if err != nil {
		return nil, cgError("read", "", "/proc/self/mountinfo", "", err)
	}
	h.v1, h.v2 = v1, v2
	self, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	h.self = self
	switch {
	case h.v2 != nil && h.v2.point == "/sys/fs/cgroup":
		h.mode = 2
	case len(h.v1) > 0:
		// v1 or hybrid: limits live in the v1 hierarchies.
		h.mode = 1
	case h.v2 != nil:
		h.mode = 2
	default:
		return nil, fmt.Errorf("cgroups: no cgroup filesystem is mounted: %w", errors.ErrUnsupported)
	}
	return h, nil
}

// parseMountinfo returns the v1 controller mounts and the cgroup2 mount.
// Where a hierarchy is mounted more than once, the mount showing its root
// wins, else the first one.
func parseMountinfo(r io.Reader) (map[string]mount, *mount, error) {
	v1 := map[string]mount{}
	var v2 *mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+4 {
			continue
		}
		fstype := fields[sep+1]
		m := mount{root: unescapeMount(fields[3]), point: unescapeMount(fields[4])}
		switch fstype {
		case "cgroup2":
			if v2 == nil || (v2.root != "/" && m.root == "/") {
				mm := m
				v2 = &mm
			}
		case "cgroup":
			for _, opt := range strings.Split(fields[sep+3], ",") {
				if !slices.Contains(v1Controllers, opt) {
					continue
				}
				if old, ok := v1[opt]; !ok || (old.root != "/" && m.root == "/") {
					v1[opt] = m
				}
			}
		}
	}
	return v1, v2, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readProcCgroup parses /proc/<pid>/cgroup into controller -> path, with
// "" for the unified hierarchy.
func readProcCgroup(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, cgError("read", "", path, "", err)
	}
	return parseProcCgroup(string(data)), nil
}

func parseProcCgroup(data string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// dirOf turns a cgroup path as /proc/<pid>/cgroup shows it into a
// directory under mount m.
func dirOf(m mount, cgPath string) string {
	rel := cgPath
	if m.root != "/" && (cgPath == m.root || strings.HasPrefix(cgPath, m.root+"/")) {
		rel = strings.TrimPrefix(cgPath, m.root)
	}
	return filepath.Join(m.point, rel)
}

// ownDir is the caller's own cgroup directory in the hierarchy of
// controller c ("" for unified).
func (h *host) ownDir(c string) (string, bool) {
	var m mount
	if c == "" {
		if h.v2 == nil {
			return "", false
		}
		m = *h.v2
	} else {
		mm, ok := h.v1[c]
		if !ok {
			return "", false
		}
		m = mm
	}
	p, ok := h.self[c]
	if !ok {
		return "", false
	}
	if strings.HasPrefix(p, "/..") {
		// Our cgroup is outside the cgroup namespace root: unusable.
		return "", false
	}
	return dirOf(m, p), true
}

// targetDir resolves cfg.Path for hierarchy c.
func (h *host) targetDir(c, name, cfgPath string) (string, error) {
	var m mount
	if c == "" {
		m = *h.v2
	} else {
		m = h.v1[c]
	}
	if cfgPath != "" && filepath.IsAbs(cfgPath) {
		clean := filepath.Clean(cfgPath)
		if clean == "/" {
			return "", cgError("create", c, cfgPath, "", errors.New("the root cgroup cannot be a sandbox's cgroup"))
		}
		return filepath.Join(m.point, clean), nil
	}
	own, ok := h.ownDir(c)
	if !ok {
		return "", cgError("create", c, "", "", errors.New("the caller's own cgroup is not visible in /proc/self/cgroup"))
	}
	rel := name
	if cfgPath != "" {
		rel = filepath.Clean(cfgPath)
		if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", cgError("create", c, cfgPath, "", errors.New("a relative cgroupsPath must stay under the caller's own cgroup"))
		}
	}
	return filepath.Join(own, rel), nil
}

// canWrite says whether the effective user may write path (as access(2)
// with AT_EACCESS would).
func (h *host) canWrite(path string) bool {
	if h.writable != nil {
		return h.writable(path)
	}
	return unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS) == nil
}

// missingDirs lists the directories of dir (deepest last) that do not
// exist yet, and the deepest one that does.
func missingDirs(dir string) (missing []string, existing string) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == "/" || d == "." {
			slices.Reverse(missing)
			return missing, d
		}
		missing = append(missing, d)
	}
}

// removeDirs removes created directories, deepest first. A directory still
// in use by someone else (EBUSY, ENOTEMPTY) is left alone.
func removeDirs(created []string) error {
	var errs []error
	for i := len(created) - 1; i >= 0; i-- {
		err := unix.Rmdir(created[i])
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case i < len(created)-1 && (errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST)):
			// An intermediate directory another sandbox shares.
		default:
			errs = append(errs, cgError("remove", "", created[i], "", err))
		}
	}
	return errors.Join(errs...)
}

// readKV reads a "key value" per line file.
func readKV(path string) (map[string]uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

// readUint reads a one-number file; "max" reads as 0.
func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" || s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readPids reads a cgroup.procs file.
func readPids(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}
