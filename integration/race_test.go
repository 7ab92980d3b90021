package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// TestHostileRootfsRace is the CVE-2025-52881 class (and CVE-2021-30465):
// uid 65534 owns a root file system and, in a tight loop, swaps proc, dev,
// sys and the mount targets with stand-ins (renameat2 RENAME_EXCHANGE: a
// directory of fake files for proc, dev and sys, a symlink out of the root
// for the bind and tmpfs targets), while root starts sandboxes from it.
// Every start must either succeed with every procfs it can see masked
// and read-only where runc says, checked from inside, or fail with a setup
// error naming the step; never an unmasked procfs, nothing mounted or
// created outside the root, the host's mount table unchanged.
func TestHostileRootfsRace(t *testing.T) {
	if !root() {
		t.Skip("root-mode test: root starts sandboxes from a root file system another user owns; rootless, that user would be the caller itself")
	}
	const (
		maxStarts = 400
		budget    = 30 * time.Second
		hang      = 10 * time.Second // a start that takes longer is stuck
	)
	base, err := os.MkdirTemp("", "nsfork-race-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	rootfs := filepath.Join(base, "rootfs")
	outside := filepath.Join(base, "outside") // root's; nothing may land here
	hostData := filepath.Join(base, "data")   // the bind source
	for _, d := range []string{outside, hostData} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(hostData, "marker"), []byte("bound"), 0o644)
	bb, err := os.ReadFile("/bin/busybox")
	require(t, err == nil, "needs /bin/busybox (Debian busybox-static)")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc", "mnt/t", "data/sub/x"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755)
	// The stand-ins: fake proc, dev and sys trees with readable "secrets"
	// where the masks go, and symlinks out of the root for the targets.
	for _, d := range []string{"proc.alt/sys/kernel", "dev.alt", "sys.alt/firmware"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	os.WriteFile(filepath.Join(rootfs, "proc.alt/kcore"), []byte("FAKE"), 0o644)
	os.Symlink(outside, filepath.Join(rootfs, "data.alt"))
	os.Symlink(outside, filepath.Join(rootfs, "mnt/t.alt"))
	if err := filepath.Walk(rootfs, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	}); err != nil {
		t.Fatal(err)
	}

	// Default's sandboxes (a leased unprivileged id range) and HostRoot's
	// (host uid 0, the case of CVE-2025-52881) take turns.
	o := rootfsOpts(rootfs)
	hostRoot := sandbox.HostRoot()
	hostRoot.Root = o.Root
	o.Mounts = append(o.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev"}},
		specs.Mount{Destination: "/data/sub/x", Type: "bind", Source: hostData, Options: []string{"rbind", "rw"}},
		specs.Mount{Destination: "/mnt/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=64k"}},
	)
	hostRoot.Mounts = o.Mounts
	before := hostMounts(t)

	// The attacker: a child running as uid 65534, no namespaces.
	att := &sandbox.Options{User: specs.User{UID: 65534, GID: 65534}, DieWithParent: true}
	ap, err := new(fork.Config).Start(context.Background(), "race.attacker", att, rootfs, int64(budget+5*time.Second))
	if err != nil {
		t.Fatalf("attacker: %v", err)
	}

	var starts, ok, failed, hung, unmasked, procSeen, ownerRefused int
	errs := map[string]int{}
	deadline := time.Now().Add(budget)
	for starts < maxStarts && time.Now().Before(deadline) {
		starts++
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		opts := o
		if starts%2 == 0 {
			opts = hostRoot
		}
		p, err := new(fork.Config).Start(ctx, "race.check", opts)
		if err == nil {
			err = p.Wait()
		}
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			hung++
			// Seen in cgo builds only: libpsx lists /proc/<pid>/task by
			// path; with a stand-in there it "aborts" by a SIGKILL to
			// pid 1 of the sandbox, itself, which the kernel ignores.
			t.Errorf("start %d: no answer in %v, killed (a cgo build's libpsx finding a stand-in /proc?): %v", starts, hang, err)
			continue
		}
		if err != nil {
			failed++
			var se *fork.SetupError
			if !errors.As(err, &se) || se.Step == "" || se.Path == "" {
				t.Errorf("start %d: not a setup error naming step and path: %v", starts, err)
			} else if se.Step == "rootfs" && strings.Contains(se.Op, "cgo build") {
				ownerRefused++
			}
			errs[firstLine(err.Error())]++
			continue
		}
		ok++
		r := p.Results()[0].([]string)
		if len(r) > 0 && r[0] == "procfs" {
			procSeen++
			r = r[1:]
		}
		if len(r) > 0 {
			unmasked++
			t.Errorf("start %d: %v", starts, r)
		}
	}
	// The attacker stops at its deadline; end it now.
	ap.Kill()
	ap.Wait()

	t.Logf("%d starts: %d succeeded (%d saw a procfs to check), %d failed closed, %d hung, %d unmasked", starts, ok, procSeen, failed, hung, unmasked)
	for e, n := range errs {
		t.Logf("  %4d × %s", n, e)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("created outside the root through a swapped symlink: %v", ents)
	}
	if after := hostMounts(t); !slices.Equal(before, after) {
		t.Errorf("host mounts changed:\nbefore %v\nafter  %v", before, after)
	}
	if nsinit.ThreadsThroughProc {
		// A cgo build refuses a root file system another user owns
		// (fork/rootfs_owner_linux.go): every start fails closed, at once.
		if ok != 0 || ownerRefused != starts {
			t.Errorf("cgo build: want every start refused by the root file system's owner check, got %d of %d (%d succeeded): %v", ownerRefused, starts, ok, errs)
		}
		return
	}
	if ok == 0 || procSeen == 0 {
		t.Errorf("no start succeeded and saw its procfs: the race test checked nothing")
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	// Mount ids differ from run to run; keep the kind of failure.
	if i := strings.Index(s, ": mount "); i > 0 {
		s = s[:i]
	}
	return s
}

// raceAttacker swaps proc, dev, sys and the mount targets with their
// stand-ins until the deadline (run as uid 65534, which owns the root).
func raceAttacker(rootfs string, d int64) (int, error) {
	pairs := [][2]string{{"proc", "proc.alt"}, {"dev", "dev.alt"}, {"sys", "sys.alt"}, {"data", "data.alt"}, {"mnt/t", "mnt/t.alt"}}
	end := time.Now().Add(time.Duration(d))
	n := 0
	// Bursts of swapping with quiet gaps between them: a start that falls
	// in a gap runs to the end and its view is checked from inside; one
	// that a burst hits must fail closed. Without the gaps, a setup with
	// many mount steps is hit every time and nothing is checked inside.
	for time.Now().Before(end) {
		burst := time.Now().Add(150 * time.Millisecond)
		for time.Now().Before(burst) {
			for _, p := range pairs {
				if unix.Renameat2(unix.AT_FDCWD, filepath.Join(rootfs, p[0]), unix.AT_FDCWD, filepath.Join(rootfs, p[1]), unix.RENAME_EXCHANGE) == nil {
					n++
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n, nil
}

// raceCheck looks, from inside, at every procfs and sysfs at the places
// the attacker may have left them, and lists what is not protected. The
// first entry is "procfs" when one was found. Each place is opened once
// and looked at through that descriptor: the attacker keeps renaming
// while this runs, and a path looked up twice may be two things.
func raceCheck() ([]string, error) {
	var bad []string
	found := false
	for _, p := range []string{"/proc", "/proc.alt"} {
		dir, ok := openFS(p, unix.PROC_SUPER_MAGIC)
		if !ok {
			continue
		}
		found = true
		for _, m := range []string{"kcore", "keys", "timer_list", "sched_debug", "latency_stats", "acpi", "scsi"} {
			if s := maskStateAt(dir, m); s != "empty" && s != "absent" {
				bad = append(bad, fmt.Sprintf("%s/%s: %s", p, m, s))
			}
		}
		for _, ro := range []string{"sys", "sysrq-trigger", "irq", "bus", "fs"} {
			if s := roStateAt(dir, ro); s != "ro" && s != "absent" {
				bad = append(bad, fmt.Sprintf("%s/%s: %s", p, ro, s))
			}
		}
		unix.Close(dir)
	}
	for _, s := range []string{"/sys", "/sys.alt"} {
		if dir, ok := openFS(s, unix.SYSFS_MAGIC); ok {
			if roStateAt(dir, ".") != "ro" {
				bad = append(bad, s+": sysfs read-write")
			}
			unix.Close(dir)
		}
	}
	if found {
		bad = append([]string{"procfs"}, bad...)
	}
	return bad, nil
}

// openFS opens the directory p if it is a file system of type magic.
func openFS(p string, magic int64) (int, bool) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil || st.Type != magic {
		unix.Close(fd)
		return -1, false
	}
	return fd, true
}

func roStateAt(dir int, name string) string {
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "absent"
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return "statfs " + errnoName(err)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return "ro"
	}
	return "rw"
}

// maskStateAt is maskState for name beneath the directory dir.
func maskStateAt(dir int, name string) string {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return "absent"
	}
	if err != nil {
		return "open " + errnoName(err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		names, err := f.Readdirnames(1)
		if len(names) == 0 {
			return "empty"
		}
		return fmt.Sprintf("lists %v %v", names, err)
	}
	b := make([]byte, 64)
	n, err := f.Read(b)
	if n == 0 {
		return "empty"
	}
	return fmt.Sprintf("reads %d bytes %v", n, err)
}

func init() {
	fork.RegisterFunc("race.attacker", raceAttacker)
	fork.RegisterFunc("race.check", raceCheck)
}
