package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// fsOps runs file system operations inside the sandbox and reports each
// one's outcome as "ok:<data>" or "err:<ERRNO>". Operations are
// "<verb> <arg>...":
//
//	read P, write P, fill P N (write N bytes), stat P, readdir P, umount P,
//	open P (O_RDWR), exec SHELL-CMD, mountinfo, pids, roots (every
//	thread's root is the process's), tread P (read on a fresh thread).
func fsOps(ops []string) (map[string]string, error) {
	out := map[string]string{}
	for _, op := range ops {
		verb, arg, _ := strings.Cut(op, " ")
		var data string
		var err error
		switch verb {
		case "read":
			var b []byte
			b, err = os.ReadFile(arg)
			data = string(b[:min(len(b), 256)])
		case "write":
			err = os.WriteFile(arg, []byte("x"), 0o644)
		case "fill":
			p, n, _ := strings.Cut(arg, " ")
			size, _ := strconv.Atoi(n)
			err = fill(p, size)
		case "stat":
			_, err = os.Lstat(arg)
		case "readdir":
			var ents []os.DirEntry
			ents, err = os.ReadDir(arg)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			data = strings.Join(names, ",")
		case "umount":
			err = unix.Unmount(arg, 0)
		case "open":
			var f *os.File
			if f, err = os.OpenFile(arg, os.O_RDWR, 0); err == nil {
				f.Close()
			}
		case "exec":
			var b []byte
			b, err = exec.Command("/bin/sh", "-c", arg).CombinedOutput()
			data = strings.TrimSpace(string(b))
			if err != nil {
				err = fmt.Errorf("%v (%s)", err, data) // not an errno: the text says why
			}
		case "mountinfo":
			var b []byte
			b, err = os.ReadFile("/proc/self/mountinfo")
			data = strings.Join(mountPoints(string(b)), "\n")
		case "fds":
			// Descriptors other than stdio and the control socket: the
			// launcher's own (rootfs and mount handles) must be gone.
			var ents []os.DirEntry
			ents, err = os.ReadDir("/proc/self/fd")
			var extra []string
			for _, e := range ents {
				l, _ := os.Readlink("/proc/self/fd/" + e.Name())
				n, _ := strconv.Atoi(e.Name())
				// Kept: the control socket, the runtime's epoll and
				// eventfd, the cgroup cpu files the Go runtime holds for
				// GOMAXPROCS (opened before any setup), and the
				// directory this very listing reads (its link is empty
				// once /proc is the sandbox's).
				runtimeCgroup := strings.HasSuffix(l, "/cpu.cfs_quota_us") || strings.HasSuffix(l, "/cpu.cfs_period_us") || strings.HasSuffix(l, "/cpu.max")
				if n > 2 && l != "" && !runtimeCgroup && !strings.HasPrefix(l, "socket:") && !strings.HasPrefix(l, "anon_inode:") {
					extra = append(extra, e.Name()+"->"+l)
				}
			}
			data = strings.Join(extra, ",")
		case "pids":
			var ents []os.DirEntry
			ents, err = os.ReadDir("/proc")
			var pids []string
			for _, e := range ents {
				if _, e2 := strconv.Atoi(e.Name()); e2 == nil {
					pids = append(pids, e.Name())
				}
			}
			data = strings.Join(pids, ",")
		case "roots":
			release := blockThreads(8)
			data, err = threadRoots()
			release()
		case "tread":
			ch := make(chan error)
			go func() {
				runtime.LockOSThread() // never unlocked: a thread of its own, dropped afterwards
				_, err := os.ReadFile(arg)
				ch <- err
			}()
			err = <-ch
		default:
			return nil, fmt.Errorf("unknown op %q", op)
		}
		if err != nil {
			out[op] = "err:" + errnoName(err)
		} else {
			out[op] = "ok:" + data
		}
	}
	return out, nil
}

func fill(p string, n int) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n > 0 {
		w, err := f.Write(buf[:min(n, len(buf))])
		if err != nil {
			return err
		}
		n -= w
	}
	return f.Sync()
}

// threadRoots checks that every thread's root is the process's root.
func threadRoots() (string, error) {
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return "", err
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return "", err
	}
	same := 0
	for _, t := range tasks {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/task/"+t.Name()+"/root/", &st); err != nil {
			return "", err
		}
		if st.Dev == root.Dev && st.Ino == root.Ino {
			same++
		}
	}
	return fmt.Sprintf("%d/%d", same, len(tasks)), nil
}

func errnoName(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// mountPoints returns the mount points listed in a mountinfo text.
func mountPoints(info string) []string {
	var mps []string
	for _, l := range strings.Split(info, "\n") {
		f := strings.Fields(l)
		if len(f) > 4 {
			mps = append(mps, f[4])
		}
	}
	return mps
}

func hostMounts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := mountPoints(string(b))
	sort.Strings(m)
	return m
}

func init() {
	fork.RegisterFunc("fsOps", fsOps)
}

// busyboxRoot builds a minimal root file system: busybox-static and a few
// applet links, empty /proc, /dev, /sys, /tmp.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	require(t, err == nil, "needs /bin/busybox (Debian busybox-static)")
	r := filepath.Join(tempDir(t), "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc", "mnt"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "ls", "echo", "id", "mount"} {
		if err := os.Symlink("busybox", filepath.Join(r, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r, "etc/hostname"), []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Root's sandboxes run as unprivileged host ids, which cannot create
	// mount points in root's rootfs: the tests' ones exist, as in an image.
	for _, d := range []string{"ro", "rw", "hostdev"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func rootfsOpts(rootfs string) *sandbox.Options {
	o := sandbox.Default()
	o.Root = &specs.Root{Path: rootfs}
	o.Mounts = []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		// A tmpfs on /dev: the minimal device set (os/exec needs /dev/null).
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=1m"}},
	}
	return o
}

// runFS runs fsOps in a sandbox and returns the outcomes and the child's
// applied-settings report.
func runFS(t *testing.T, opts *sandbox.Options, ops ...string) (map[string]string, *sandbox.Applied) {
	t.Helper()
	res, applied, err := tryFS(opts, ops...)
	if err != nil {
		t.Fatalf("fsOps: %v", err)
	}
	return res, applied
}

func tryFS(opts *sandbox.Options, ops ...string) (map[string]string, *sandbox.Applied, error) {
	p, err := new(fork.Config).Start(context.Background(), "fsOps", opts, ops)
	if err != nil {
		return nil, nil, err
	}
	if err := p.Wait(); err != nil {
		return nil, nil, err
	}
	a := p.Applied()
	if a == nil {
		a = &sandbox.Applied{}
	}
	return p.Results()[0].(map[string]string), a, nil
}

func expect(t *testing.T, res map[string]string, op, want string) {
	t.Helper()
	got, ok := res[op]
	if !ok {
		t.Errorf("%s: not run", op)
		return
	}
	if strings.HasSuffix(want, "*") {
		if !strings.HasPrefix(got, strings.TrimSuffix(want, "*")) {
			t.Errorf("%s: got %q, want %q", op, got, want)
		}
		return
	}
	if got != want {
		t.Errorf("%s: got %q, want %q", op, got, want)
	}
}

// TestRootfsPivot: the function runs in a busybox root file system; the
// host's files and mounts are out of reach, the old root is gone, every
// thread has the new root, /proc shows only the sandbox, a command runs.
func TestRootfsPivot(t *testing.T) {
	rootfs := busyboxRoot(t)
	marker, err := os.CreateTemp("", "nsfork-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())
	before := hostMounts(t)
	res, a := runFS(t, rootfsOpts(rootfs),
		"stat "+marker.Name(), "stat "+rootfs, "stat /bin/busybox", "read /etc/hostname",
		"mountinfo", "pids", "roots", "fds", "exec echo hi from $(cat /etc/hostname)")
	expect(t, res, "fds", "ok:")
	expect(t, res, "stat "+marker.Name(), "err:ENOENT")
	expect(t, res, "stat "+rootfs, "err:ENOENT")
	expect(t, res, "stat /bin/busybox", "ok:")
	expect(t, res, "read /etc/hostname", "ok:inside\n")
	expect(t, res, "exec echo hi from $(cat /etc/hostname)", "ok:hi from inside")
	expect(t, res, "pids", "ok:1")
	if r := res["roots"]; !strings.HasPrefix(r, "ok:") || func() bool { s, n, _ := strings.Cut(r[3:], "/"); return s != n || s == "0" }() {
		t.Errorf("thread roots: %s (want every thread's root to be the new root)", r)
	}
	for _, mp := range strings.Split(strings.TrimPrefix(res["mountinfo"], "ok:"), "\n") {
		if mp != "/" && mp != "/proc" && !strings.HasPrefix(mp, "/proc/") && mp != "/dev" && !strings.HasPrefix(mp, "/dev/") {
			t.Errorf("a mount the sandbox did not make is visible inside: %s (all: %q)", mp, res["mountinfo"])
		}
	}
	if a.Root != "pivot_root" {
		t.Errorf("applied root %q, want pivot_root", a.Root)
	}
	if after := hostMounts(t); !slices.Equal(before, after) {
		t.Errorf("host mounts changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestRootfsReadonly: root.readonly makes the root read-only, a tmpfs on
// it stays writable, and a tmpfs's size is enforced.
func TestRootfsReadonly(t *testing.T) {
	rootfs := busyboxRoot(t)
	o := rootfsOpts(rootfs)
	o.Root.Readonly = true
	o.Mounts = append(o.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1777", "nosuid", "nodev"}})
	res, _ := runFS(t, o, "write /newfile", "write /etc/hostname", "write /tmp/f", "fill /tmp/big 2000000", "fill /tmp/small 500000")
	expect(t, res, "write /newfile", "err:EROFS")
	expect(t, res, "write /etc/hostname", "err:EROFS")
	expect(t, res, "write /tmp/f", "ok:")
	expect(t, res, "fill /tmp/big 2000000", "err:ENOSPC")
	if _, err := os.Stat(filepath.Join(rootfs, "newfile")); err == nil {
		t.Errorf("a file was created in the read-only root")
	}
}

// TestBindMounts: bind ro refuses writes, bind rw writes through to the
// host, and rbind rro makes submounts read-only too.
func TestBindMounts(t *testing.T) {
	rootfs := busyboxRoot(t)
	ro, rw := tempDir(t), sharedDir(t)
	os.WriteFile(filepath.Join(ro, "f"), []byte("ro-data"), 0o644)
	o := rootfsOpts(rootfs)
	o.Mounts = append(o.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: ro, Options: []string{"bind", "ro", "nosuid", "nodev"}},
		specs.Mount{Destination: "/rw", Type: "bind", Source: rw, Options: []string{"rbind", "rw"}},
		// /dev has submounts (/dev/shm, /dev/pts) on every Linux host.
		specs.Mount{Destination: "/hostdev", Type: "bind", Source: "/dev", Options: []string{"rbind", "rro"}},
		specs.Mount{Destination: "/file", Type: "bind", Source: filepath.Join(ro, "f"), Options: []string{"bind", "ro"}},
	)
	res, _ := runFS(t, o, "read /ro/f", "write /ro/g", "write /rw/g", "write /hostdev/shm/nsfork-test", "readdir /hostdev/pts", "read /file", "write /file")
	expect(t, res, "read /ro/f", "ok:ro-data")
	expect(t, res, "write /ro/g", "err:EROFS")
	expect(t, res, "write /rw/g", "ok:")
	expect(t, res, "write /hostdev/shm/nsfork-test", "err:EROFS")
	expect(t, res, "readdir /hostdev/pts", "ok:*")
	expect(t, res, "read /file", "ok:ro-data")
	expect(t, res, "write /file", "err:EROFS")
	if _, err := os.Stat(filepath.Join(rw, "g")); err != nil {
		t.Errorf("a write to the rw bind did not reach the host: %v", err)
	}
	if _, err := os.Stat("/dev/shm/nsfork-test"); err == nil {
		os.Remove("/dev/shm/nsfork-test")
		t.Errorf("a write through an rbind ro reached the host's /dev/shm")
	}
}

// TestMinimalDev: a tmpfs on /dev gets null, zero, full, random, urandom,
// tty, /dev/pts with a private ptmx, /dev/shm and the fd links.
func TestMinimalDev(t *testing.T) {
	rootfs := busyboxRoot(t)
	o := rootfsOpts(rootfs)
	res, a := runFS(t, o, "write /dev/null", "exec head -c 5 /dev/zero | wc -c", "exec head -c 16 /dev/urandom | wc -c", "write /dev/full",
		"readdir /dev", "readdir /dev/pts", "open /dev/ptmx", "write /dev/shm/x", "stat /dev/fd", "exec echo ok > /dev/stdout")
	expect(t, res, "write /dev/null", "ok:")
	expect(t, res, "write /dev/full", "err:ENOSPC")
	expect(t, res, "exec head -c 5 /dev/zero | wc -c", "ok:5")
	expect(t, res, "exec head -c 16 /dev/urandom | wc -c", "ok:16")
	expect(t, res, "readdir /dev", "ok:fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero")
	expect(t, res, "readdir /dev/pts", "ok:ptmx")
	expect(t, res, "open /dev/ptmx", "ok:")
	expect(t, res, "write /dev/shm/x", "ok:")
	expect(t, res, "stat /dev/fd", "ok:")
	expect(t, res, "exec echo ok > /dev/stdout", "ok:ok")
	t.Logf("mounts: %q", a.Mounts)
}

// TestMaskedPaths: runc's default masks and read-only paths apply with a
// root file system; a mask reads empty and cannot be unmounted once the
// capabilities are dropped (the presets drop them all).
func TestMaskedPaths(t *testing.T) {
	rootfs := busyboxRoot(t)
	os.WriteFile(filepath.Join(rootfs, "secret"), []byte("s3cret"), 0o644)
	os.MkdirAll(filepath.Join(rootfs, "secretdir"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "secretdir/f"), []byte("s3cret"), 0o644)
	o := rootfsOpts(rootfs)
	var ops []string
	for _, p := range nsinit.DefaultMaskedPaths() {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && strings.HasPrefix(p, "/proc/") {
			ops = append(ops, "read "+p, "umount "+p)
		} else if err == nil && st.IsDir() && strings.HasPrefix(p, "/proc/") {
			ops = append(ops, "readdir "+p)
		}
	}
	if len(ops) == 0 {
		t.Fatal("none of the default masked paths exists on this host")
	}
	ops = append(ops, "write /proc/sys/kernel/hostname", "readdir /proc/sys/kernel")
	res, _ := runFS(t, o, ops...)
	for _, op := range ops {
		switch v, _, _ := strings.Cut(op, " "); v {
		case "read", "readdir":
			if op != "readdir /proc/sys/kernel" {
				expect(t, res, op, "ok:")
			}
		case "umount":
			expect(t, res, op, "err:EPERM")
		}
	}
	expect(t, res, "write /proc/sys/kernel/hostname", "err:EROFS")
	expect(t, res, "readdir /proc/sys/kernel", "ok:*") // read-only, not masked
	if res["readdir /proc/sys/kernel"] == "ok:" {
		t.Errorf("/proc/sys/kernel reads empty")
	}

	o = rootfsOpts(rootfs)
	o.MaskedPaths = []string{"/secret", "/secretdir", "/not/there"}
	o.ReadonlyPaths = []string{"/tmp"}
	res, _ = runFS(t, o, "read /secret", "readdir /secretdir", "read /secretdir/f", "umount /secretdir", "write /tmp/x", "read /proc/timer_list")
	expect(t, res, "read /secret", "ok:")
	expect(t, res, "readdir /secretdir", "ok:")
	expect(t, res, "read /secretdir/f", "err:ENOENT")
	expect(t, res, "umount /secretdir", "err:EPERM")
	expect(t, res, "write /tmp/x", "err:EROFS")
	if got := res["read /proc/timer_list"]; got == "ok:" {
		t.Errorf("/proc/timer_list masked although maskedPaths replaced the default list")
	}
}

// TestMountErrors: what is wrong is refused with an error naming the path,
// before the child starts or before anything is mounted in it.
func TestMountErrors(t *testing.T) {
	rootfs := busyboxRoot(t)
	os.WriteFile(filepath.Join(rootfs, "afile"), nil, 0o644)
	missing := filepath.Join(tempDir(t), "missing")
	dangling := filepath.Join(tempDir(t), "dangling")
	os.Symlink("/nonexistent/target", dangling)

	for _, src := range []string{missing, dangling} {
		o := rootfsOpts(rootfs)
		o.Mounts = append(o.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"rbind"}})
		_, err := new(fork.Config).Start(context.Background(), "fsOps", o, []string{})
		var se *sandbox.Error
		if !errors.As(err, &se) || !strings.Contains(err.Error(), src) {
			t.Errorf("bind source %s: %v (want a sandbox.Error naming it, before the start)", src, err)
		}
	}

	// A directory is needed where the root file system has a file: the
	// child refuses before it mounts anything (the proc mount first in
	// the list is not made either: the check runs before the first mount).
	o := rootfsOpts(rootfs)
	o.Mounts = append(o.Mounts, specs.Mount{Destination: "/afile", Type: "tmpfs", Source: "tmpfs"})
	_, _, err := tryFS(o)
	var se *fork.SetupError
	if !errors.As(err, &se) || se.Step != "mount" || se.Path != "/afile" || !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("tmpfs on a file: %v (want a mount setup error naming /afile, ENOTDIR)", err)
	}
	// Without a root file system nothing is created on the host.
	o = sandbox.Default()
	o.Mounts = []specs.Mount{{Destination: missing, Type: "tmpfs", Source: "tmpfs"}}
	if _, _, err = tryFS(o); !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), missing) {
		t.Errorf("tmpfs on a missing host path: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("%s was created on the host", missing)
	}
}

// TestSymlinkEscape: destinations that are symlinks out of the root
// (absolute and ../..) resolve inside it; nothing is mounted or created
// outside.
func TestSymlinkEscape(t *testing.T) {
	rootfs := busyboxRoot(t)
	outside := tempDir(t)
	os.Symlink(outside, filepath.Join(rootfs, "abs"))
	os.Symlink("../../../../../../../../.."+outside, filepath.Join(rootfs, "rel"))
	// The in-root counterpart of the link target exists, so the mounts
	// succeed: inside the root.
	os.MkdirAll(filepath.Join(rootfs, outside), 0o755)
	os.Chmod(filepath.Join(rootfs, outside), 0o777) // root's sandbox creates a there
	before := hostMounts(t)
	o := rootfsOpts(rootfs)
	o.Mounts = append(o.Mounts,
		specs.Mount{Destination: "/abs/a", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/rel/b", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/abs", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/rel/c/d", Type: "bind", Source: tempDir(t), Options: []string{"rbind"}},
	)
	// The tmpfs on /abs covers a and b; /rel/c/d was made on that tmpfs.
	res, _ := runFS(t, o, "mountinfo", "stat "+outside+"/c/d", "stat "+outside+"/a")
	expect(t, res, "stat "+outside+"/c/d", "ok:") // inside the root: rootfs/<outside>/c/d
	expect(t, res, "stat "+outside+"/a", "err:ENOENT")
	ents, _ := os.ReadDir(outside)
	if len(ents) != 0 {
		t.Errorf("created outside the root: %v", ents)
	}
	if after := hostMounts(t); !slices.Equal(before, after) {
		t.Errorf("host mounts changed:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Stat(filepath.Join(rootfs, outside, "a")); err != nil {
		t.Errorf("the destination was not made inside the root: %v", err)
	}
}

// TestSymlinkSwapRace: while children set up many mounts under /race, the
// test swaps /race between a directory and a symlink to a host directory
// (renameat2 RENAME_EXCHANGE). No mount or file ever lands outside.
func TestSymlinkSwapRace(t *testing.T) {
	rootfs := busyboxRoot(t)
	outside := tempDir(t)
	race, alt := filepath.Join(rootfs, "race"), filepath.Join(rootfs, "race-alt")
	os.Mkdir(race, 0o755)
	os.Symlink(outside, alt)
	before := hostMounts(t)
	o := rootfsOpts(rootfs)
	for i := range 40 {
		o.Mounts = append(o.Mounts, specs.Mount{Destination: fmt.Sprintf("/race/d%d/x", i), Type: "tmpfs", Source: "tmpfs", Options: []string{"size=64k"}})
	}
	var stop atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if unix.Renameat2(unix.AT_FDCWD, race, unix.AT_FDCWD, alt, unix.RENAME_EXCHANGE) == nil {
				swaps.Add(1)
			}
		}
	}()
	okRuns := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 30 && time.Now().Before(deadline); i++ {
		if _, _, err := tryFS(o); err == nil {
			okRuns++
		} else if !strings.Contains(err.Error(), "mount") {
			t.Errorf("run %d: unexpected error %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d swaps, %d of the runs set up every mount", swaps.Load(), okRuns)
	ents, _ := os.ReadDir(outside)
	if len(ents) != 0 {
		t.Errorf("created outside the root: %v", ents)
	}
	if after := hostMounts(t); !slices.Equal(before, after) {
		t.Errorf("host mounts changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestHostRootReadonly: Root{Path: "/", Readonly: true} keeps the host's
// root but read-only and nodev, submounts included (the host's /dev
// nodes cannot be opened: a sandbox gets a minimal /dev of its own);
// mounts on top stay writable.
func TestHostRootReadonly(t *testing.T) {
	dir, scratch := tempDir(t), tempDir(t)
	o := sandbox.Default()
	o.Root = &specs.Root{Path: "/", Readonly: true}
	o.Mounts = []specs.Mount{{Destination: scratch, Type: "tmpfs", Source: "tmpfs"}}
	res, a := runFS(t, o, "write "+dir+"/f", "write /dev/shm/nsfork-ro", "write /dev/null", "write "+scratch+"/f", "pids")
	expect(t, res, "write "+dir+"/f", "err:EROFS")
	expect(t, res, "write /dev/shm/nsfork-ro", "err:EROFS")
	expect(t, res, "write /dev/null", "err:EACCES")
	expect(t, res, "write "+scratch+"/f", "ok:")
	expect(t, res, "pids", "ok:1")
	if a.Root != "" {
		t.Errorf("applied root %q: the host root is not pivoted", a.Root)
	}
	if _, err := os.Stat(filepath.Join(scratch, "f")); err == nil {
		t.Errorf("the tmpfs write reached the host")
	}
}

// TestProcOnlySandbox: /proc in the root file system lists only the
// sandbox's processes, also while it runs children.
func TestProcOnlySandbox(t *testing.T) {
	rootfs := busyboxRoot(t)
	res, _ := runFS(t, rootfsOpts(rootfs), "exec ls /proc | grep -c '^[0-9]'")
	// pid 1 (the function), the shell, ls and grep at most.
	n, _ := strconv.Atoi(strings.TrimPrefix(res["exec ls /proc | grep -c '^[0-9]'"], "ok:"))
	if n < 2 || n > 4 {
		t.Errorf("/proc lists %d processes: %q", n, res)
	}
}

// TestLandlockPaths: outside the listed paths a file cannot be read
// (EACCES), inside it can, on every thread, including a new one.
func TestLandlockPaths(t *testing.T) {
	allowed := tempDir(t)
	os.WriteFile(filepath.Join(allowed, "f"), []byte("yes"), 0o644)
	denied := tempDir(t)
	os.WriteFile(filepath.Join(denied, "f"), []byte("no"), 0o644)
	// allowed is writable as a mount, so that the write's refusal is
	// Landlock's (EACCES), not the read-only view's (EROFS).
	o := sandbox.Default().WithBinds(allowed)
	o.Landlock = &sandbox.Landlock{ReadOnly: []string{allowed}}
	res, a, err := tryFS(o, "read "+allowed+"/f", "read "+denied+"/f", "tread "+allowed+"/f", "tread "+denied+"/f", "read /etc/hostname", "write "+allowed+"/g")
	if errors.Is(err, errors.ErrUnsupported) || (err != nil && strings.Contains(err.Error(), "landlock")) {
		require(t, false, "needs Landlock: "+err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	expect(t, res, "read "+allowed+"/f", "ok:yes")
	expect(t, res, "read "+denied+"/f", "err:EACCES")
	expect(t, res, "tread "+allowed+"/f", "ok:")
	expect(t, res, "tread "+denied+"/f", "err:EACCES")
	expect(t, res, "read /etc/hostname", "err:EACCES")
	expect(t, res, "write "+allowed+"/g", "err:EACCES")
	if a.Landlock == nil || a.Landlock.ABI < 1 {
		t.Errorf("landlock not reported: %+v", a.Landlock)
	}
}

var _ = bytes.Equal
var _ = io.EOF
var _ = context.Background

func devOnHostRoot() (string, error) {
	// os.WriteFile opens with O_CREAT: refused on a device node in a
	// sticky world-writable /dev, which a tmpfs is unless given a mode.
	if err := os.WriteFile("/dev/null", []byte("x"), 0o666); err != nil {
		return "", fmt.Errorf("os.WriteFile: %w", err)
	}
	if _, err := os.Stat("/dev/pts/ptmx"); err != nil {
		return "", err
	}
	if err := os.WriteFile("/etc/nsfork-should-fail", nil, 0o644); err == nil {
		return "", fmt.Errorf("the read-only host root took a write")
	}
	return "ok", nil
}

func init() { fork.RegisterFunc("devOnHostRoot", devOnHostRoot) }

// TestMinimalDevOnReadOnlyHostRoot: the minimal /dev works on the host's
// root made read-only (its pts and shm are made in the new tmpfs).
func TestMinimalDevOnReadOnlyHostRoot(t *testing.T) {
	o := sandbox.Default()
	o.Root = &specs.Root{Path: "/", Readonly: true}
	o.Mounts = []specs.Mount{{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"}}
	got, err := fork.Call[string](context.Background(), "devOnHostRoot", o)
	if err != nil || got != "ok" {
		t.Fatalf("%q %v", got, err)
	}
}
