package cgroups

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/pidsig"
)

// destroyTimeout bounds how long Destroy keeps killing processes that
// escape (fork while being killed) before it gives up.
var destroyTimeout = 10 * time.Second

// live holds the names of cgroups this process made and has not destroyed,
// so Cleanup never takes one of ours.
var live sync.Map

// sysCgroup is the Linux state of a Cgroup: a *v1Cgroup or a *v2Cgroup.
type sysCgroup interface {
	version() int
	fd() (int, bool)
	add(pid int) error
	paths() map[string]string
	stats() (*Stats, error)
	destroy() error
}

// base is what both versions keep: the directories, the ones New made,
// and whether the cgroup is gone (or was never made, under BestEffort).
type base struct {
	h       *host
	name    string
	dirs    map[string]string // controller (v1) or "unified" (v2) -> directory
	created []string          // directories New made, parents first
	done    bool
}

func newName(pid int) string {
	var b [6]byte
	_, _ = unix.Getrandom(b[:], 0)
	return fmt.Sprintf("nsfork-%d-%s", pid, hex.EncodeToString(b[:]))
}

func newCgroup(h *host, cfg Config) (*Cgroup, error) {
	name := newName(h.pid)
	cfg.Resources = withDefaultDevices(cfg.Resources)
	c := &Cgroup{}
	var err error
	if h.mode == 2 {
		c.sys, c.skipped, err = newV2(h, cfg, name)
	} else {
		c.sys, c.skipped, err = newV1(h, cfg, name)
	}
	if err != nil {
		return nil, err
	}
	live.Store(name, true)
	return c, nil
}

// refuse builds the error (or, with BestEffort, the skip note) for a limit
// that cannot be applied.
func refuse(cfg Config, skipped *[]string, err error) error {
	if cfg.BestEffort {
		*skipped = append(*skipped, err.Error())
		return nil
	}
	return err
}

// strictFor is cfg without BestEffort when ctrl is the devices controller:
// device rules are never skipped, a sandbox without them would reach
// every device node it can see.
func strictFor(cfg Config, ctrl string) Config {
	if ctrl == "devices" {
		cfg.BestEffort = false
	}
	return cfg
}

func noDelegation(ctrl, path string, why string, errno error) error {
	if errno == nil {
		errno = unix.EACCES
	}
	return withHint(cgError("create", ctrl, path, "", fmt.Errorf("%w: %s: %w", ErrNoDelegation, why, errno)), delegationHint)
}

// writeFile writes one value to one cgroup file. The error names the
// operation, controller, file, value and errno.
func (h *host) writeFile(op, dir string, w write) error {
	path := filepath.Join(dir, w.file)
	flags := os.O_WRONLY
	if h.fakeFS {
		flags |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err == nil {
		_, err = f.WriteString(w.value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		e := cgError(op, w.ctrl, path, w.value, err)
		if errors.Is(err, unix.ENOENT) {
			e = withHint(e, "the kernel does not offer this file here: controller not enabled or feature not built in")
		}
		if (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) && h.rootless() {
			e = withHint(e, delegationHint)
		}
		return e
	}
	return nil
}

// addPid writes pid to dir's cgroup.procs.
func (b *base) addPid(ctrl, dir string, pid int) error {
	return b.h.writeFile("add", dir, write{ctrl, "cgroup.procs", fmt.Sprint(pid)})
}

// checkAdd says whether add has anything to do, and refuses a bad pid or
// a destroyed cgroup.
func (b *base) checkAdd(pid int) (bool, error) {
	if pid <= 0 {
		return false, cgError("add", "", "", fmt.Sprint(pid), unix.EINVAL)
	}
	if len(b.dirs) == 0 {
		return false, nil // BestEffort without any cgroup
	}
	if b.done {
		return false, cgError("add", "", "", fmt.Sprint(pid), errors.New("cgroup destroyed"))
	}
	return true, nil
}

func (b *base) paths() map[string]string {
	out := make(map[string]string, len(b.dirs))
	for k, v := range b.dirs {
		out[k] = v
	}
	return out
}

// remove kills what is left in the directories (freezer: the directory to
// freeze, "" for none) and removes them and the directories New made.
func (b *base) remove(ver int, freezer string) error {
	if b.done {
		return nil
	}
	var dirs []string
	for _, d := range b.dirs {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	if err := killAll(ver, dirs, freezer, destroyTimeout); err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		if b.h.fakeFS {
			removeFakeFiles(d)
		}
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeDirs(b.created); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	b.done = true
	live.Delete(b.name)
	return nil
}

// statsReady returns (nil, nil) when there is something to read.
func (b *base) statsReady() (*Stats, error) {
	if len(b.dirs) == 0 {
		return &Stats{}, nil
	}
	if b.done {
		return nil, cgError("read", "", "", "", errors.New("cgroup destroyed"))
	}
	return nil, nil
}

// readStat reads an optional counter file for Stats: a file the kernel
// does not have reads as zero; any other failure is an error naming it.
func readStat[T any](ctrl, path string, read func(string) (T, error)) (T, error) {
	v, err := read(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return v, cgError("read", ctrl, path, "", err)
	}
	return v, nil
}

// pidsStats reads pids.current, pids.peak and pids.events of dir.
func pidsStats(st *Stats, dir string) error {
	cur, err := readStat("pids", filepath.Join(dir, "pids.current"), readUint)
	if err != nil {
		return err
	}
	st.PidsPeak = cur
	peak, err := readStat("pids", filepath.Join(dir, "pids.peak"), readUint)
	if err != nil {
		return err
	}
	if peak > 0 {
		st.PidsPeak = peak
	}
	ev, err := readStat("pids", filepath.Join(dir, "pids.events"), readKV)
	if err != nil {
		return err
	}
	st.PidsLimitHit = ev["max"] > 0
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func fields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// memoryLimit is a limit as read from the kernel, 0 for "no limit": v1
// shows one as a page-rounded LONG_MAX, v2's "max" reads as the largest
// uint64.
func memoryLimit(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

// removeFakeFiles removes the plain files of a fake cgroupfs (tests),
// which a real cgroupfs removes with its directory.
func removeFakeFiles(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			_ = os.Remove(p)
		}
		return nil
	})
}

// removeTree removes dir and the cgroups below it, deepest first.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	// A cgroup whose last task just exited can be busy for a moment.
	for try := 0; try < 50; try++ {
		if err = unix.Rmdir(dir); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return cgError("remove", "", dir, "", err)
	}
	return nil
}

// treePids lists the processes in dir and the cgroups below it.
func treePids(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if ps, err := readPids(filepath.Join(p, "cgroup.procs")); err == nil {
				pids = append(pids, ps...)
			}
		}
		return nil
	})
	return pids
}

func unionPids(dirs []string) []int {
	var all []int
	for _, d := range dirs {
		for _, p := range treePids(d) {
			if !slices.Contains(all, p) {
				all = append(all, p)
			}
		}
	}
	return all
}

// killAll kills every process in dirs until they are empty or timeout
// passes. On v2 it uses cgroup.kill when the kernel has it (5.14+). Else it
// freezes the cgroup (so nothing forks between listing and killing),
// SIGKILLs every pid, thaws (a frozen task dies only once thawed) and
// repeats. containerd's Freeze/Kill are not used: their freeze loops have
// no time bound and their fallback makes a single pass.
func killAll(ver int, dirs []string, freezer string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	killFile := ""
	if ver == 2 && len(dirs) == 1 && exists(filepath.Join(dirs[0], "cgroup.kill")) {
		killFile = filepath.Join(dirs[0], "cgroup.kill")
	}
	for delay := time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		pids := unionPids(dirs)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return cgError("kill", "", strings.Join(dirs, " "), fmt.Sprint(pids), fmt.Errorf("processes still alive after %v: %w", timeout, unix.EBUSY))
		}
		if killFile != "" {
			if err := os.WriteFile(killFile, []byte("1"), 0); err == nil {
				time.Sleep(delay)
				continue
			}
		}
		frozen := freezer != "" && freeze(ver, freezer, true, 200*time.Millisecond)
		pidsig.Listed(func() []int { return unionPids(dirs) }, unix.SIGKILL)
		if frozen {
			freeze(ver, freezer, false, time.Second)
		}
		time.Sleep(delay)
	}
}

// freeze sets or clears the freezer of dir and waits, bounded, for the
// state to settle. It reports whether the state was reached.
func freeze(ver int, dir string, on bool, wait time.Duration) bool {
	var file, val, want string
	if ver == 2 {
		file, val = "cgroup.freeze", map[bool]string{true: "1", false: "0"}[on]
	} else {
		file, val = "freezer.state", map[bool]string{true: "FROZEN", false: "THAWED"}[on]
		want = val
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0); err != nil {
		return false
	}
	deadline := time.Now().Add(wait)
	for {
		if ver == 2 {
			ev, err := readKV(filepath.Join(dir, "cgroup.events"))
			if err == nil && (ev["frozen"] == 1) == on {
				return true
			}
		} else if b, err := os.ReadFile(filepath.Join(dir, "freezer.state")); err == nil && strings.TrimSpace(string(b)) == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
