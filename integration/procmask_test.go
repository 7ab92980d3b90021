package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// The tests in this file look, from inside a sandbox, at every /proc and
// /sys it gets, in each mode the Options can express: the host root
// shared with a new /proc, the host root read-only, a root file system
// and a `runc spec` bundle. In every mode runc's readonlyPaths are
// read-only, its maskedPaths read empty or are absent, /sys is read-only,
// and on a read-only host root no device node of the host opens.

// protectProbe is what the sandbox reports. Keys:
//
//	"fs P"          the file system type at P ("proc", "sysfs", "other", "absent")
//	"ro P"          "ro" or "rw": whether P's mount is read-only; "absent"
//	"access P"      access(P, W_OK): "ok" or the errno
//	"masked P"      "empty", "absent", or what a read gave (its size or errno)
//	"dev P"         for each block or character device of the host found
//	                under P: "ok" if it opened (O_RDONLY|O_NONBLOCK), the errno if not
//	"write P"       opening P for writing (no O_CREAT, no O_TRUNC: nothing
//	                is changed even where it opens): "ok" or the errno
type protectProbe map[string]string

func probeProtection(procs, syss, devs, writes []string) (map[string]string, error) {
	r := protectProbe{}
	for _, p := range procs {
		r["fs "+p] = fsType(p)
		for _, ro := range nsinit.DefaultReadonlyPaths() {
			q := p + strings.TrimPrefix(ro, "/proc")
			r["ro "+q] = roState(q)
			r["access "+q] = accessW(q)
		}
		r["access "+p+"/sys/kernel/domainname"] = accessW(p + "/sys/kernel/domainname")
		for _, m := range nsinit.DefaultMaskedPaths() {
			if rest, ok := strings.CutPrefix(m, "/proc/"); ok {
				r["masked "+p+"/"+rest] = maskState(p + "/" + rest)
			}
		}
	}
	for _, s := range syss {
		r["fs "+s] = fsType(s)
		r["ro "+s] = roState(s)
		r["ro "+s+"/fs/cgroup"] = roState(s + "/fs/cgroup")
		for _, m := range nsinit.DefaultMaskedPaths() {
			if rest, ok := strings.CutPrefix(m, "/sys/"); ok {
				r["masked "+s+"/"+rest] = maskState(s + "/" + rest)
			}
		}
	}
	for _, d := range devs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.Type()&(os.ModeDevice|os.ModeCharDevice) != os.ModeDevice {
				continue // block devices only
			}
			p := filepath.Join(d, e.Name())
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
				r["dev "+p] = "ok"
			} else {
				r["dev "+p] = errnoName(err)
			}
		}
	}
	for _, w := range writes {
		f, err := os.OpenFile(w, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
			r["write "+w] = "ok"
		} else {
			r["write "+w] = errnoName(err)
		}
	}
	return r, nil
}

func init() { fork.RegisterFunc("probeProtection", probeProtection) }

func fsType(p string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return "absent"
	}
	switch st.Type {
	case unix.PROC_SUPER_MAGIC:
		return "proc"
	case unix.SYSFS_MAGIC:
		return "sysfs"
	}
	return "other"
}

func roState(p string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return "absent"
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return "ro"
	}
	return "rw"
}

func accessW(p string) string {
	if err := unix.Access(p, unix.W_OK); err != nil {
		return errnoName(err)
	}
	return "ok"
}

// maskState reads a masked path: a masked file reads empty, a masked
// directory lists nothing.
func maskState(p string) string {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		return "stat " + errnoName(err)
	}
	if st.IsDir() {
		ents, err := os.ReadDir(p)
		if err != nil {
			return "readdir " + errnoName(err)
		}
		if len(ents) == 0 {
			return "empty"
		}
		return "lists " + ents[0].Name()
	}
	f, err := os.Open(p)
	if err != nil {
		return "open " + errnoName(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "read " + errnoName(err)
	}
	if len(b) == 0 {
		return "empty"
	}
	return "reads " + strings.Fields(string(b) + " x")[0]
}

// identity is who the sandbox's uid 0 is on the host: Default's (the
// invoking user rootless, a leased unprivileged range for root) or, as
// root only, HostRoot's host uid 0 (trusted code, but its /proc and /sys
// must be protected all the same: uid 0 owns those files).
type identity struct {
	name     string
	opts     func() *sandbox.Options
	hostRoot bool // the sandbox's uid 0 is the host's
}

func identities() []identity {
	ids := []identity{{name: "default", opts: sandbox.Default}}
	if root() {
		ids = append(ids, identity{name: "host-root", opts: sandbox.HostRoot, hostRoot: true})
	}
	return ids
}

// ownsInvokersFiles: the sandbox's uid 0 is the invoking user on the host.
func (id identity) ownsInvokersFiles() bool { return id.hostRoot || !root() }

// checkProtected asserts what every mode must show for the procs and
// syss the probe looked at.
func checkProtected(t *testing.T, id identity, r map[string]string, procs, syss []string) {
	t.Helper()
	for _, p := range procs {
		if r["fs "+p] != "proc" {
			t.Errorf("%s is %q, want a procfs", p, r["fs "+p])
			continue
		}
		for _, ro := range nsinit.DefaultReadonlyPaths() {
			q := p + strings.TrimPrefix(ro, "/proc")
			if s := r["ro "+q]; s != "ro" && s != "absent" {
				t.Errorf("%s is %s, want read-only", q, s)
			}
			if s := r["access "+q]; s == "ok" {
				t.Errorf("access(%s, W_OK) succeeds", q)
			}
		}
		// Unless the sandbox's uid 0 is host root, the file's owner is
		// not mapped: the permission check fails first (EACCES), and the
		// read-only mount is seen by the "ro" state above.
		if s := r["access "+p+"/sys/kernel/domainname"]; s != "EROFS" && (id.hostRoot || s == "ok") {
			t.Errorf("access(%s/sys/kernel/domainname, W_OK): %s, want EROFS", p, s)
		}
		for _, m := range nsinit.DefaultMaskedPaths() {
			if rest, ok := strings.CutPrefix(m, "/proc/"); ok {
				if s := r["masked "+p+"/"+rest]; s != "empty" && s != "absent" {
					t.Errorf("%s/%s: %s, want it to read empty or be absent", p, rest, s)
				}
			}
		}
		// The test is only worth something where the host has the files.
		for _, must := range []string{"kcore", "keys", "timer_list"} {
			if _, err := os.Stat("/proc/" + must); err == nil && r["masked "+p+"/"+must] != "empty" {
				t.Errorf("%s/%s: %s, want empty (masked)", p, must, r["masked "+p+"/"+must])
			}
		}
	}
	for _, s := range syss {
		if st := r["ro "+s]; st != "ro" {
			t.Errorf("%s is %s (%s), want read-only", s, st, r["fs "+s])
		}
		if st := r["ro "+s+"/fs/cgroup"]; st != "ro" && st != "absent" {
			t.Errorf("%s/fs/cgroup is %s, want read-only", s, st)
		}
		for _, m := range nsinit.DefaultMaskedPaths() {
			if rest, ok := strings.CutPrefix(m, "/sys/"); ok {
				if st := r["masked "+s+"/"+rest]; st != "empty" && st != "absent" {
					t.Errorf("%s/%s: %s, want it to read empty or be absent", s, rest, st)
				}
			}
		}
	}
}

func runProtectProbe(t *testing.T, o *sandbox.Options, procs, syss, devs, writes []string) map[string]string {
	t.Helper()
	p, err := new(fork.Config).Start(context.Background(), "probeProtection", o, procs, syss, devs, writes)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	r := p.Results()[0].(map[string]string)
	t.Logf("probe: %v", r)
	return r
}

// TestProtectSharedHostRoot: the host root shared as it is (HostFS), with
// a new /proc of the sandbox's pid namespace: that /proc is protected and
// the host's /sys is read-only.
func TestProtectSharedHostRoot(t *testing.T) {
	for _, id := range identities() {
		t.Run(id.name, func(t *testing.T) {
			r := runProtectProbe(t, id.opts().HostFS(), []string{"/proc"}, []string{"/sys"}, nil, nil)
			checkProtected(t, id, r, []string{"/proc"}, []string{"/sys"})
		})
	}
}

// TestProtectReadonlyHostRoot: Root{Path: "/", Readonly: true}. With a
// minimal /dev (a tmpfs on /dev) and without: on the host's /dev, made
// nodev, no block device opens (HostRoot's uid 0 would open them all
// otherwise); a file of the invoking user and one of root cannot be
// opened for writing (EROFS where the sandbox's uid 0 is the file's
// owner, else the permission check fails first).
func TestProtectReadonlyHostRoot(t *testing.T) {
	mine := filepath.Join(t.TempDir(), "mine")
	if err := os.WriteFile(mine, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var blockDevs int
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		if e.Type()&(os.ModeDevice|os.ModeCharDevice) == os.ModeDevice {
			blockDevs++
		}
	}
	require(t, blockDevs > 0, "a host with block devices in /dev")
	for _, id := range identities() {
		for _, withDev := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/dev=%v", id.name, withDev), func(t *testing.T) {
				o := id.opts()
				o.Root = &specs.Root{Path: "/", Readonly: true}
				o.Mounts = nil // the /proc of the pid namespace comes all the same
				if withDev {
					o.Mounts = []specs.Mount{{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=1m"}}}
				}
				r := runProtectProbe(t, o, []string{"/proc"}, []string{"/sys"}, []string{"/dev"}, []string{mine, "/etc/hostname"})
				checkProtected(t, id, r, []string{"/proc"}, []string{"/sys"})
				if s := r["write "+mine]; s == "ok" || (id.ownsInvokersFiles() && s != "EROFS") {
					t.Errorf("opening the invoking user's %s for writing: %s, want EROFS", mine, s)
				}
				if s := r["write /etc/hostname"]; s == "ok" || (id.hostRoot && s != "EROFS") {
					t.Errorf("root's /etc/hostname opens for writing: %s", s)
				}
				n := 0
				for k, v := range r {
					if strings.HasPrefix(k, "dev ") {
						n++
						if v == "ok" {
							t.Errorf("%s opens (want EACCES: the host's /dev is nodev)", strings.TrimPrefix(k, "dev "))
						}
					}
				}
				if !withDev && n == 0 {
					t.Errorf("no block device seen in the host's /dev inside the sandbox: the test saw nothing")
				}
				if withDev && n != 0 {
					t.Errorf("the minimal /dev has %d block devices", n)
				}
			})
		}
	}
}

// TestProtectRootfs: a busybox root file system with /proc, a second proc
// elsewhere (/mnt/proc), a minimal /dev and a sysfs on /sys mounted
// without "ro": every procfs is protected, /sys is read-only.
func TestProtectRootfs(t *testing.T) {
	rootfs := busyboxRoot(t)
	// The sandbox's root may not be allowed to create it in root's tree.
	os.MkdirAll(filepath.Join(rootfs, "mnt/proc"), 0o755)
	for _, id := range identities() {
		t.Run(id.name, func(t *testing.T) {
			o := id.opts()
			o.Root = &specs.Root{Path: rootfs}
			o.WithNamespaces(specs.NetworkNamespace) // a new sysfs needs one in a user namespace
			o.Mounts = []specs.Mount{
				{Destination: "/proc", Type: "proc", Source: "proc"},
				{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=1m"}},
				{Destination: "/mnt/proc", Type: "proc", Source: "proc"},
				{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev"}},
			}
			procs := []string{"/proc", "/mnt/proc"}
			r := runProtectProbe(t, o, procs, []string{"/sys"}, []string{"/dev"}, nil)
			checkProtected(t, id, r, procs, []string{"/sys"})
			for k, v := range r {
				if strings.HasPrefix(k, "dev ") {
					t.Errorf("block device in the minimal /dev: %s (%s)", k, v)
				}
			}
		})
	}
}

// TestProtectBundle: a `runc spec` bundle (--rootless when not root) run
// with sandbox.FromBundle: its own maskedPaths and readonlyPaths (runc's
// defaults) hold on its /proc, its sysfs is read-only, and /dev/null
// works despite the config's deny-all device rule (as root, where the
// devices cgroup applies).
func TestProtectBundle(t *testing.T) {
	dir := makeBundle(t)
	o, _, err := sandbox.FromBundle(dir)
	if err != nil {
		t.Fatalf("FromBundle: %v", err)
	}
	o.CgroupsBestEffort = !root()
	// runc spec lists ambient capabilities that are not inheritable;
	// sandboxrun drops them for uid 0 (a root exec loses them anyway).
	if o.Capabilities != nil {
		o.Capabilities.Ambient = nil
	}
	r := runProtectProbe(t, o, []string{"/proc"}, []string{"/sys"}, nil, []string{"/dev/null"})
	checkProtected(t, identity{name: "bundle", hostRoot: root() && !o.NewNamespace(specs.UserNamespace)}, r, []string{"/proc"}, []string{"/sys"})
	if s := r["write /dev/null"]; s != "ok" {
		t.Errorf("/dev/null in a runc spec bundle: %s", s)
	}
	// The CLI, with a shell in the bundle's busybox.
	out := mustRun(t, "run", "--bundle", dir, "--", "/bin/sh", "-c", "echo x > /dev/null && echo null-ok; head -c 1 /dev/zero | wc -c")
	if !strings.Contains(out, "null-ok\n") || !strings.Contains(out, "1\n") {
		t.Errorf("sandboxrun run --bundle: /dev/null or /dev/zero: %q", out)
	}
}

// TestOOMScoreAdjOnProc: oom_score_adj is written (through a descriptor
// checked to be on a procfs) and reads back inside.
func TestOOMScoreAdjOnProc(t *testing.T) {
	rootfs := busyboxRoot(t)
	o := rootfsOpts(rootfs)
	adj := 321
	o.OOMScoreAdj = &adj
	res, _ := runFS(t, o, "read /proc/self/oom_score_adj")
	expect(t, res, "read /proc/self/oom_score_adj", "ok:321\n")
}
