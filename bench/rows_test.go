package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/moby/sys/reexec"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// A row is one thing the suite times: one launch (or hand-off) per call of
// run.
type row struct {
	key   string // stable identifier, also the benchmark's name
	label string // what the table shows
	run   func() error
	// timed, when set, is what the latency rounds run instead of run: it
	// returns the time of its measured part, doing untimed work after it
	// (freshRPC starts its next peer so).
	timed func() (time.Duration, error)
	bytes int64  // payload per call, for MB/s; 0 if none
	base  string // key of the row it is compared with; "" for none
	skip  string // why it cannot run here; "" if it can

	// Targets from the issues, reported as met or missed, never asserted.
	maxRatio float64       // p50 at most this times the base row's p50
	minMBps  float64       // at least this many MB/s at p50
	maxP50   time.Duration // p50 at most this long
}

// Sizes from which a hand-off row runs only every NSFORK_BENCH_HEAVY_EVERY-th
// round (heavy) or only in the first and last round of a pass (rare).
const (
	heavyBytes = 16 * mib
	rareBytes  = 512 * mib
)

const (
	keyBare = "bare-reexec"
	kib     = 1 << 10
	mib     = 1 << 20
	gib     = 1 << 30
)

var (
	rowsOnce sync.Once
	allRows  []*row
	rowByKey map[string]*row
	rowsErr  error
)

// rows returns every row, built once per process. Rows that cannot run here
// carry the reason in skip.
func rows() ([]*row, map[string]*row, error) {
	rowsOnce.Do(func() { allRows, rowsErr = buildRows() })
	if rowsErr == nil && rowByKey == nil {
		rowByKey = map[string]*row{}
		for _, r := range allRows {
			rowByKey[r.key] = r
		}
	}
	return allRows, rowByKey, rowsErr
}

func buildRows() ([]*row, error) {
	var rs []*row
	add := func(r *row) { rs = append(rs, r) }

	tiny, tinyWhy := tinyBinary()

	// The static tiny program unshare(1) runs: busybox-static's true, or
	// the generated ELF.
	floor, floorArgs, floorName := tiny, []string(nil), "exit0"
	bb, bbErr := exec.LookPath("busybox")
	static := bbErr == nil && isStatic(bb)
	if static {
		floor, floorArgs, floorName = bb, []string{"true"}, "busybox true"
	}

	// Floor and peers, no isolation.
	if static {
		add(&row{key: "exec-busybox-true", label: "os/exec `busybox true` (static)", run: execRun(bb, "true"), base: keyBare})
	} else {
		add(&row{key: "exec-busybox-true", label: "os/exec `busybox true` (static)", skip: "no static busybox in PATH (Debian: busybox-static)"})
	}
	add(&row{key: "exec-tiny-elf", label: "os/exec 3-instruction static ELF", run: execRun(tiny), base: keyBare, skip: tinyWhy})
	add(&row{key: keyBare, label: "bare Go self re-exec (/proc/self/exe)", run: bareRun(nil)})
	add(&row{key: "moby-reexec", label: "moby/sys/reexec v0.1.0", run: mobyRun, base: keyBare})
	add(&row{key: "fork-compat", label: "fork: (*Function).Fork + Wait", run: compatRun, base: keyBare, maxRatio: 1.10})
	add(&row{key: "fork-Fork", label: "fork: fork.Fork(name) + Wait", run: forkRun, base: keyBare, maxRatio: 1.10})
	add(&row{key: "fork-Start", label: "fork: fork.Start + Wait", run: startRun, base: keyBare, maxRatio: 1.10})
	addStartRows(add)

	// Argument hand-off: a []byte to the child, its checksum back. The
	// payloads are made on first use, so a run that never reaches the
	// 1 GiB rows never holds 1 GiB.
	for _, size := range []int{1 * kib, 1 * mib, 64 * mib, 1 * gib} {
		data := lazyPayload(size)
		n := strings.ReplaceAll(sizeName(size), " ", "")
		pipeKey := "pipe-" + n
		add(&row{key: pipeKey, label: fmt.Sprintf("raw pipe, %s to a bare re-exec child", sizeName(size)), run: pipeRun(data), bytes: int64(size), base: keyBare})
		if size == 1*gib {
			add(&row{key: "pipe-fresh-" + n, label: fmt.Sprintf("raw pipe, %s read into fresh memory (huge pages, populated: fork's floor)", sizeName(size)), run: freshRun(data), bytes: int64(size), base: pipeKey})
		}
		r := &row{key: "fork-arg-" + n, label: fmt.Sprintf("fork: %s []byte argument, checksum back", sizeName(size)), run: argRun(data), bytes: int64(size), base: pipeKey}
		if size == 64*mib {
			r.minMBps = 500
			r.maxP50 = 30 * time.Millisecond
		}
		add(r)
	}

	// Isolation. As root, the root preset (no user namespace) and the
	// rootless preset's set (with one); as anyone else, the rootless one.
	unshareBin, unshareErr := exec.LookPath("unshare")
	type preset struct {
		name  string
		opts  *sandbox.Options
		flags string // unshare(1) flags for the same namespaces
	}
	var presets []preset
	if os.Geteuid() == 0 {
		presets = append(presets, preset{"root", sandbox.Root(), "-pmuin"})
	}
	presets = append(presets, preset{"rootless", sandbox.Rootless(), "-Urpmui"})
	for _, p := range presets {
		attr, err := sameFlags(p.opts)
		if err != nil {
			return nil, fmt.Errorf("%s preset: %w", p.name, err)
		}
		baseKey := "bare-" + p.name + "-flags"
		add(&row{key: baseKey, label: fmt.Sprintf("bare Go self re-exec, %s preset's clone flags (%s)", p.name, flagNames(attr)), run: bareRun(attr), base: keyBare})
		opts := p.opts
		add(&row{key: "forkisolated-" + p.name, label: fmt.Sprintf("fork: ForkIsolated(sandbox.%s()) + Wait", titled(p.name)), run: isolatedRun(opts), base: baseKey, maxRatio: 1.15})
		// The same without capabilities and no_new_privs: what the
		// all-threads system calls of that step cost.
		lean := p.opts.Clone()
		lean.Capabilities, lean.NoNewPrivileges = nil, false
		add(&row{key: "forkisolated-" + p.name + "-nocaps", label: fmt.Sprintf("fork: ForkIsolated(sandbox.%s() without capabilities, no_new_privs) + Wait", titled(p.name)), run: isolatedRun(lean), base: baseKey})
		u := &row{key: "unshare-" + p.name, label: fmt.Sprintf("`unshare %s -f %s`", p.flags, floorName), base: baseKey}
		switch {
		case unshareErr != nil:
			u.skip = "unshare(1) not found (Debian: util-linux)"
		case floor == "":
			u.skip = "no static tiny program to run: " + tinyWhy
		default:
			u.run = execRun(unshareBin, append([]string{p.flags, "-f", floor}, floorArgs...)...)
		}
		add(u)
		// The network namespace on its own: the root preset has one, the
		// rootless one shares the host's network.
		if p.opts.NewNamespace(specs.NetworkNamespace) {
			add(&row{key: "forkisolated-" + p.name + "-nonet", label: fmt.Sprintf("fork: ForkIsolated(sandbox.%s() without its network namespace) + Wait", titled(p.name)),
				run: isolatedRun(p.opts.Clone().WithoutNamespaces(specs.NetworkNamespace)), base: "forkisolated-" + p.name})
		} else {
			add(&row{key: "forkisolated-" + p.name + "-net", label: fmt.Sprintf("fork: ForkIsolated(sandbox.%s() plus a network namespace) + Wait", titled(p.name)),
				run: isolatedRun(p.opts.Clone().WithNamespaces(specs.NetworkNamespace)), base: "forkisolated-" + p.name})
		}
	}
	addPeerRows(add, floor, floorArgs)
	addPoolRows(add)
	addRootfsRows(add)

	// Rows that need privileges the caller lacks, or a kernel that refuses
	// them, skip with the reason: try each once.
	for _, r := range rs {
		if r.skip == "" && r.run != nil {
			if err := r.run(); err != nil {
				r.skip = "fails here: " + err.Error()
			}
		}
	}
	return rs, nil
}

// measure runs r once and returns the time of its measured part.
func (r *row) measure() (time.Duration, error) {
	if r.timed != nil {
		return r.timed()
	}
	t0 := time.Now()
	err := r.run()
	return time.Since(t0), err
}

func titled(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func sizeName(n int) string {
	switch {
	case n >= gib:
		return fmt.Sprintf("%d GiB", n/gib)
	case n >= mib:
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d KiB", n/kib)
}

// payload returns n bytes that are not all alike, and their checksum. They
// live outside the Go heap and are marked MADV_DONTFORK: a launch that
// clones without CLONE_VM (os/exec does whenever a user namespace is made)
// copies the parent's page tables, and the benchmark's own payloads would
// otherwise slow down every such row that never uses them.
func payload(n int) ([]byte, uint64) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b = make([]byte, n)
	} else {
		unix.Madvise(b, unix.MADV_DONTFORK)
	}
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i+8 <= n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	return b, sum64(b)
}

// lazyPayload returns a function that makes payload(n) on its first call
// and returns the same bytes and checksum on every call.
func lazyPayload(n int) func() ([]byte, uint64) {
	var once sync.Once
	var b []byte
	var s uint64
	return func() ([]byte, uint64) {
		once.Do(func() { b, s = payload(n) })
		return b, s
	}
}

// stdio gives a child the parent's stdio, as fork does by default, so that
// neither side pays for opening /dev/null.
func stdio(c *exec.Cmd) *exec.Cmd {
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return c
}

func execRun(path string, args ...string) func() error {
	return func() error {
		return stdio(exec.Command(path, args...)).Run()
	}
}

// bareRun re-executes this binary, whose TestMain exits at once on seeing
// bareEnv. attr, if not nil, is the SysProcAttr to start it with.
func bareRun(attr *syscall.SysProcAttr) func() error {
	return func() error {
		c := stdio(exec.Command("/proc/self/exe"))
		c.Env = append(os.Environ(), bareEnv+"=1")
		c.SysProcAttr = attr
		return c.Run()
	}
}

func mobyRun() error {
	return stdio(reexec.Command(reexecName)).Run()
}

func compatRun() error {
	if err := noopFn.Fork(); err != nil {
		return err
	}
	return noopFn.Wait()
}

func forkRun() error {
	if err := fork.Fork("noop"); err != nil {
		return err
	}
	return noopFn.Wait() // fork.Fork started the registered *Function, noopFn
}

func startRun() error {
	p, err := new(fork.Config).Start(context.Background(), "noop", nil)
	if err != nil {
		return err
	}
	return p.Wait()
}

func isolatedRun(opts *sandbox.Options) func() error {
	return func() error {
		p, err := new(fork.Config).Start(context.Background(), "noop", opts)
		if err != nil {
			return err
		}
		return p.Wait()
	}
}

func argRun(data func() ([]byte, uint64)) func() error {
	return func() error {
		b, want := data()
		got, err := fork.Call[uint64](context.Background(), "sum", nil, b)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("child checksummed %#x, want %#x", got, want)
		}
		return nil
	}
}

// pipeRun is the reference for argument hand-off: a bare re-exec child
// reads data from a pipe, checksums it and writes the sum back.
func pipeRun(data func() ([]byte, uint64)) func() error {
	return pipeModeRun(data, func(int) string { return "sum" })
}

// pipeModeRun is pipeRun with the child mode mode(len(data)).
func pipeModeRun(data func() ([]byte, uint64), mode func(n int) string) func() error {
	return func() error {
		b, want := data()
		out, _, err := pipeChild(mode(len(b)), b, 8)
		if err != nil {
			return err
		}
		if got := binary.LittleEndian.Uint64(out); got != want {
			return fmt.Errorf("child checksummed %#x, want %#x", got, want)
		}
		return nil
	}
}

// pipeChild runs a bare re-exec child in mode (see TestMain), writes data
// to its stdin and returns exactly want bytes of its stdout, and its state.
func pipeChild(mode string, data []byte, want int) ([]byte, *os.ProcessState, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	c := exec.Command("/proc/self/exe")
	c.Env = append(os.Environ(), bareEnv+"="+mode)
	c.Stdin, c.Stdout, c.Stderr = r, &out, os.Stderr
	if err := c.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, nil, err
	}
	r.Close()
	_, werr := w.Write(data)
	w.Close()
	if err := c.Wait(); err != nil {
		return nil, c.ProcessState, err
	}
	if werr != nil {
		return nil, c.ProcessState, werr
	}
	if out.Len() != want {
		return nil, c.ProcessState, fmt.Errorf("child wrote %d bytes, want %d", out.Len(), want)
	}
	return out.Bytes(), c.ProcessState, nil
}

// sameFlags is the SysProcAttr a careful hand-written launcher would use
// for o's namespaces: the same clone flags, the id maps the preset writes
// (setgroups "deny" unless root), the child running as 0:0 inside, a new
// session. No request, no setup steps in the child.
func sameFlags(o *sandbox.Options) (*syscall.SysProcAttr, error) {
	a := &syscall.SysProcAttr{Setsid: true}
	for _, ns := range o.Namespaces {
		if ns.Path != "" {
			return nil, errors.New("joins a namespace by path")
		}
		a.Cloneflags |= sandbox.CloneFlag(ns.Type)
	}
	if a.Cloneflags&unix.CLONE_NEWUSER == 0 {
		return a, nil
	}
	if o.NeedsIDMapHelper() {
		return nil, errors.New("needs newuidmap/newgidmap")
	}
	uids, gids := o.EffectiveIDMappings()
	for _, m := range uids {
		a.UidMappings = append(a.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for _, m := range gids {
		a.GidMappings = append(a.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	a.GidMappingsEnableSetgroups = os.Geteuid() == 0
	a.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	return a, nil
}

func flagNames(a *syscall.SysProcAttr) string {
	var s []string
	for _, f := range []struct {
		bit  uintptr
		name string
	}{
		{unix.CLONE_NEWUSER, "user"}, {unix.CLONE_NEWPID, "pid"}, {unix.CLONE_NEWNS, "mount"},
		{unix.CLONE_NEWUTS, "uts"}, {unix.CLONE_NEWIPC, "ipc"}, {unix.CLONE_NEWNET, "net"},
		{unix.CLONE_NEWCGROUP, "cgroup"}, {unix.CLONE_NEWTIME, "time"},
	} {
		if a.Cloneflags&f.bit != 0 {
			s = append(s, f.name)
		}
	}
	return strings.Join(s, "+")
}
