package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/cgroups"
	"github.com/nsfork/nsfork/internal/passwd"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// probeName is the function doctor runs in a sandbox with the defaults.
const probeName = "sandboxrun:doctor-probe"

func init() {
	fork.RegisterFunc(probeName, probeInside)
}

// probeInside reports, from inside the sandbox, what holds there.
func probeInside() (string, error) {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	var parts []string
	parts = append(parts, "uid="+strconv.Itoa(os.Getuid()))
	if m, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		if f := strings.Fields(string(m)); len(f) == 3 {
			parts = append(parts, "host-uid="+f[1])
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k {
		case "CapEff", "NoNewPrivs", "Seccomp":
			parts = append(parts, k+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, " "), nil
}

// Check states.
const (
	stOK   = "ok"
	stWarn = "warn" // a feature beyond the defaults is unavailable
	stFail = "FAIL" // the defaults cannot work
	stInfo = "info"
)

type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

type doctor struct {
	checks []check
	euid   int
	// hostRoot: root in the initial user namespace. Root of another
	// user namespace (rootless podman's runtime, unshare -r) is rootless.
	hostRoot bool
}

func (d *doctor) add(name, status, format string, args ...any) {
	d.checks = append(d.checks, check{name, status, fmt.Sprintf(format, args...)})
}

// readSysctl returns a /proc/sys value and whether the file exists.
func readSysctl(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

func runDoctor(w io.Writer, asJSON bool) int {
	d := &doctor{euid: os.Geteuid(), hostRoot: sandbox.RootInInitialUserNS()}
	d.kernel()
	d.userns()
	d.subids()
	d.identity()
	d.seccomp()
	d.i386()
	d.landlock()
	d.cgroups()
	d.rootfs()
	d.live()
	code := 0
	for _, c := range d.checks {
		if c.Status == stFail {
			code = 1
		}
	}
	if asJSON {
		b, _ := json.MarshalIndent(struct {
			OK     bool    `json:"ok"`
			Checks []check `json:"checks"`
		}{code == 0, d.checks}, "", "  ")
		fmt.Fprintln(w, string(b))
		return code
	}
	for _, c := range d.checks {
		fmt.Fprintf(w, "%-4s  %-18s %s\n", c.Status, c.Name, c.Detail)
	}
	if code == 0 {
		fmt.Fprintln(w, "\nThe defaults work here: `sandboxrun -- CMD` runs CMD sandboxed.")
	} else {
		fmt.Fprintln(w, "\nThe defaults do not work here; see the FAIL lines above.")
	}
	return code
}

func (d *doctor) kernel() {
	var u unix.Utsname
	unix.Uname(&u)
	who := "root"
	switch {
	case d.euid == 0 && !d.hostRoot:
		who = "uid 0 of a user namespace other than the initial one (rootless mode: not host root)"
	case d.euid != 0:
		who = "uid " + strconv.Itoa(d.euid) + " (rootless mode)"
	}
	d.add("kernel", stInfo, "Linux %s %s, running as %s", unix.ByteSliceToString(u.Release[:]), runtime.GOARCH, who)
}

func (d *doctor) userns() {
	// Root's defaults need user namespaces too (unprivileged host ids),
	// but not the unprivileged kind.
	bad := stFail
	if d.hostRoot {
		bad = stInfo
	}
	var problems []string
	if v, ok := readSysctl("/proc/sys/user/max_user_namespaces"); ok && v == "0" {
		problems = append(problems, "user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000)")
	}
	if v, ok := readSysctl("/proc/sys/kernel/unprivileged_userns_clone"); ok && v == "0" {
		problems = append(problems, "kernel.unprivileged_userns_clone is 0 (sysctl -w kernel.unprivileged_userns_clone=1)")
	}
	if v, ok := readSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
		problems = append(problems, "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10+): unprivileged user namespaces get no capabilities unless an AppArmor profile with 'userns,' covers sandboxrun, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
	}
	if len(problems) > 0 {
		d.add("user namespaces", bad, "unprivileged user namespaces are restricted: %s", strings.Join(problems, "; "))
		return
	}
	max, _ := readSysctl("/proc/sys/user/max_user_namespaces")
	d.add("user namespaces", stOK, "unprivileged user namespaces allowed (user.max_user_namespaces=%s)", max)
}

func (d *doctor) subids() {
	name := passwd.Name(d.euid)
	uids, _ := sandbox.LookupSubIDs(name, d.euid, sandbox.SubUIDFile)
	gids, _ := sandbox.LookupSubIDs(name, d.euid, sandbox.SubGIDFile)
	var helpers []string
	for _, t := range []string{"newuidmap", "newgidmap"} {
		p, err := exec.LookPath(t)
		if err != nil {
			helpers = append(helpers, t+" missing (Debian/Ubuntu package uidmap)")
			continue
		}
		if !privilegedHelper(p) {
			helpers = append(helpers, p+" is neither setuid root nor has file capabilities")
		}
	}
	who := name
	if who == "" {
		who = strconv.Itoa(d.euid)
	}
	switch {
	case d.hostRoot:
		d.add("subordinate ids", stInfo, "root writes any id map itself; newuidmap is not needed")
		return
	case d.euid == 0:
		d.add("subordinate ids", stInfo, "root of this user namespace maps the ids its namespace has (/proc/self/uid_map) itself; newuidmap and /etc/subuid are not used")
		return
	}
	switch {
	case len(uids) == 0 || len(gids) == 0:
		d.add("subordinate ids", stWarn, "no /etc/subuid or /etc/subgid entry for %s: only your own uid and gid can be mapped (--uid-map beyond them needs e.g. '%s:100000:65536' in both files)", who, who)
	case len(helpers) > 0:
		d.add("subordinate ids", stWarn, "%s has subordinate ids but %s", who, strings.Join(helpers, "; "))
	default:
		d.add("subordinate ids", stOK, "%s: uids %v, gids %v; newuidmap and newgidmap present", who, uids, gids)
	}
}

// privilegedHelper reports whether a newuidmap-like binary can act: it is
// setuid root or carries file capabilities.
func privilegedHelper(path string) bool {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return false
	}
	if st.Mode&unix.S_ISUID != 0 && st.Uid == 0 {
		return true
	}
	sz, err := unix.Getxattr(path, "security.capability", nil)
	return err == nil && sz > 0
}

func (d *doctor) seccomp() {
	st, _ := os.ReadFile("/proc/self/status")
	if !bytes.Contains(st, []byte("\nSeccomp:")) {
		d.add("seccomp", stFail, "the kernel has no seccomp (CONFIG_SECCOMP_FILTER): use --seccomp unconfined")
		return
	}
	p, err := seccomp.DefaultProfile(nil, runtime.GOARCH)
	if err == nil {
		_, err = seccomp.Compile(p, runtime.GOARCH)
	}
	if err != nil {
		d.add("seccomp", stFail, "the default profile does not compile for %s: %v", runtime.GOARCH, err)
		return
	}
	d.add("seccomp", stOK, "seccomp filters available; Docker's default profile compiles for %s", runtime.GOARCH)
}

func (d *doctor) landlock() {
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		why := "not enabled (add landlock to the lsm= boot parameter, kernel 5.13+)"
		if err != nil {
			why += ": " + message(err)
		}
		d.add("landlock", stWarn, "Landlock %s; --landlock-ro/--landlock-rw will be refused", why)
		return
	}
	d.add("landlock", stOK, "Landlock ABI %d", abi)
}

func (d *doctor) cgroups() {
	r := cgroups.Probe()
	if r.Version == 0 {
		d.add("cgroups", stWarn, "no usable cgroup file system: --memory/--pids/--cpus/--cpuset will be refused (%s)", r.Reason)
		return
	}
	if !r.Delegated {
		d.add("cgroups", stWarn, "cgroup v%d, not delegated to this user: --memory/--pids/--cpus/--cpuset will be refused. %s", r.Version, r.Reason)
		return
	}
	d.add("cgroups", stOK, "cgroup v%d, limits can be set here. %s", r.Version, r.Reason)
}

func (d *doctor) rootfs() {
	var sfs unix.Statfs_t
	if err := unix.Statfs("/", &sfs); err != nil {
		d.add("root filesystem", stWarn, "statfs /: %s", message(err))
		return
	}
	initramfs := false
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			f := strings.Fields(l)
			// id parent major:minor root mountpoint opts ... - fstype source
			for i, x := range f {
				if x == "-" && i+1 < len(f) && len(f) > 4 && f[4] == "/" && f[i+1] == "rootfs" {
					initramfs = true
				}
			}
		}
	}
	if initramfs || (sfs.Type == unix.RAMFS_MAGIC && !strings.Contains(mountFSType("/"), "tmpfs")) {
		d.add("root filesystem", stOK, "/ is an initramfs (rootfs): pivot_root fails there with EINVAL, so --rootfs uses MS_MOVE + chroot (the report says \"move+chroot\")")
		return
	}
	d.add("root filesystem", stOK, "/ is %s: --rootfs uses pivot_root", mountFSType("/"))
}

// mountFSType returns the file system type mounted at dir, from mountinfo.
func mountFSType(dir string) string {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "unknown"
	}
	t := "unknown"
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || f[4] != dir {
			continue
		}
		for i, x := range f {
			if x == "-" && i+1 < len(f) {
				t = f[i+1] // the last one mounted on dir wins
			}
		}
	}
	return t
}

// live starts a sandbox with the defaults and reads what holds inside.
func (d *doctor) live() {
	opts := sandbox.Default()
	prof, err := seccomp.Named("default", nil, runtime.GOARCH)
	if err != nil {
		d.add("defaults", stFail, "%s", message(err))
		return
	}
	opts.Seccomp = prof
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := fork.Call[string](ctx, probeName, opts)
	if err != nil {
		_, msg := outcome(err, nil)
		if msg == "" {
			msg = message(err)
		}
		d.add("defaults", stFail, "a sandbox with the defaults did not start: %s", msg)
		return
	}
	var ns []string
	for _, n := range opts.Namespaces {
		ns = append(ns, string(n.Type))
	}
	d.add("defaults", stOK, "started a sandbox with the defaults (namespaces %s); inside: %s", strings.Join(ns, ", "), out)
}
