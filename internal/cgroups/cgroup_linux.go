package cgroups

import (
	"crypto/rand"
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

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// destroyTimeout bounds how long Destroy keeps killing processes that
// escape (fork while being killed) before it gives up.
var destroyTimeout = 10 * time.Second

// live holds the names of cgroups this process made and has not destroyed,
// so Cleanup never takes one of ours.
var live sync.Map

// sysCgroup is the Linux state of a Cgroup.
type sysCgroup struct {
	ver     int
	h       *host
	name    string
	dirs    map[string]string // controller (v1) or "unified" (v2) -> directory
	created []string          // directories New made, parents first
	done    bool

	// v1
	cg1     cgroup1.Cgroup
	ctrls   []string // v1 controllers in use
	freezer string   // v1 freezer directory, if in use

	// v2
	dir      string
	dirFD    int
	mgr      *cgroup2.Manager
	devClose func() error
}

func newName(pid int) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
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

func noDelegation(ctrl, path string, why string, errno error) error {
	if errno == nil {
		errno = unix.EACCES
	}
	return &Error{
		Op:         "create",
		Controller: ctrl,
		File:       path,
		Err:        fmt.Errorf("%w: %s: %w", ErrNoDelegation, why, errno),
		Hint:       delegationHint,
	}
}

// wrapPathErr turns an error of the containerd library (an *fs.PathError
// naming the file) into an *Error naming controller, file and value.
func (s *sysCgroup) wrapPathErr(op string, err error, values map[string]string) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return &Error{Op: op, Err: err}
	}
	e := &Error{Op: op, File: pe.Path, Err: err}
	for c, m := range s.h.v1 {
		if pe.Path == m.point || strings.HasPrefix(pe.Path, m.point+"/") {
			e.Controller = c
			break
		}
	}
	if s.ver == 2 {
		e.Controller = strings.SplitN(filepath.Base(pe.Path), ".", 2)[0]
	}
	e.Value = values[filepath.Base(pe.Path)]
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		if s.h.euid != 0 {
			e.Hint = delegationHint
		}
	}
	return e
}

// writeFile writes one value to one cgroup file.
func (s *sysCgroup) writeFile(dir string, w write) error {
	path := filepath.Join(dir, w.file)
	flags := os.O_WRONLY
	if s.h.fakeFS {
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
		e := &Error{Op: "write", Controller: w.ctrl, File: path, Value: w.value, Err: err}
		if errors.Is(err, unix.ENOENT) {
			e.Hint = "the kernel does not offer this file here: controller not enabled or feature not built in"
		}
		if (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) && s.h.euid != 0 {
			e.Hint = delegationHint
		}
		return e
	}
	return nil
}

// ---- cgroup v1 ----

// v1Layout returns the root and the path to give containerd's cgroup1
// package for controller c and target directory dir. cgroup1 joins
// root/<controller>/path; where a hierarchy is mounted under another name
// (co-mounted "cpu,cpuacct" without the usual symlinks) the path climbs
// out of the non-existent root/<controller> with "..".
func v1Layout(m mount, c, dir string) (root, path string, err error) {
	rel, err := filepath.Rel(m.point, dir)
	if err != nil {
		return "", "", err
	}
	alias := filepath.Join(filepath.Dir(m.point), c)
	if filepath.Base(m.point) == c || sameFile(alias, m.point) {
		return filepath.Dir(m.point), "/" + rel, nil
	}
	if c == "cpuset" {
		return "", "", &Error{Op: "create", Controller: c, File: m.point, Err: fmt.Errorf("cpuset mounted as %q without a %q alias: %w", m.point, alias, errors.ErrUnsupported)}
	}
	return m.point, "../" + rel, nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func newV1(h *host, cfg Config, name string) (*sysCgroup, []string, error) {
	s := &sysCgroup{ver: 1, h: h, name: name, dirs: map[string]string{}, dirFD: -1}
	var skipped []string
	res := &specs.LinuxResources{}
	if cfg.Resources != nil {
		cp := *cfg.Resources
		res = &cp
	}
	if len(res.Unified) > 0 {
		if err := refuse(cfg, &skipped, &Error{Op: "write", File: "unified", Err: fmt.Errorf("linux.resources.unified needs cgroup v2, this host limits through cgroup v1: %w", errors.ErrUnsupported)}); err != nil {
			return nil, nil, err
		}
		res.Unified = nil
	}

	// Which controllers must work, and can they?
	needs := map[string]string{}
	for _, n := range neededV1(res) {
		needs[n.ctrl] = n.what
	}
	drop := func(ctrl string) { // forget the limits of a skipped controller
		switch ctrl {
		case "memory":
			res.Memory = nil
		case "cpu":
			if res.CPU != nil {
				c := *res.CPU
				c.Shares, c.Quota, c.Period, c.Burst, c.Idle, c.RealtimePeriod, c.RealtimeRuntime = nil, nil, nil, nil, nil, nil, nil
				res.CPU = &c
			}
		case "cpuset":
			if res.CPU != nil {
				c := *res.CPU
				c.Cpus, c.Mems = "", ""
				res.CPU = &c
			}
		case "pids":
			res.Pids = nil
		case "blkio":
			res.BlockIO = nil
		case "hugetlb":
			res.HugepageLimits = nil
		case "devices":
			res.Devices = nil
		case "net_cls", "net_prio":
			res.Network = nil
		case "rdma":
			res.Rdma = nil
		}
		delete(needs, ctrl)
	}
	for _, ctrl := range sortedKeys(needs) {
		if _, ok := h.ownDir(ctrl); ok {
			continue
		}
		why := fmt.Sprintf("controller %s (for %s) is not mounted as a cgroup v1 hierarchy", ctrl, needs[ctrl])
		if h.v2 != nil {
			if b, err := os.ReadFile(filepath.Join(h.v2.point, "cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(b)), ctrl) {
				why += fmt.Sprintf(" (it is bound to the cgroup2 hierarchy at %s; mixing v1 and v2 controllers is not supported)", h.v2.point)
			}
		}
		if err := refuse(cfg, &skipped, &Error{Op: "create", Controller: ctrl, Err: fmt.Errorf("%s: %w", why, errors.ErrUnsupported)}); err != nil {
			return nil, nil, err
		}
		drop(ctrl)
	}
	// Features some kernels lack inside a controller.
	if m := res.Memory; m != nil && m.Swap != nil {
		if mm, ok := h.v1["memory"]; ok && !exists(filepath.Join(mm.point, "memory.memsw.limit_in_bytes")) {
			err := &Error{Op: "write", Controller: "memory", File: "memory.memsw.limit_in_bytes", Value: fmt.Sprint(*m.Swap),
				Err: fmt.Errorf("swap accounting is off in this kernel (boot with swapaccount=1): %w", errors.ErrUnsupported)}
			if err := refuse(cfg, &skipped, err); err != nil {
				return nil, nil, err
			}
			mc := *m
			mc.Swap = nil
			res.Memory = &mc
		}
	}

	// Where each hierarchy's cgroup goes, and may we make it there?
	type plan struct {
		ctrl, dir string
		missing   []string
	}
	var plans []plan
	for _, ctrl := range v1Controllers {
		if _, ok := h.ownDir(ctrl); !ok {
			continue
		}
		if _, needed := needs[ctrl]; !needed && !v1Accounting[ctrl] {
			// The sandbox stays in the caller's cgroup of this hierarchy.
			// Above all the freezer: Slurm's proctrack/cgroup finds a
			// step's processes in the step's own freezer cgroup.procs
			// only, so a sandbox moved below it would escape Slurm's
			// signals and its kill at the end of the step.
			continue
		}
		dir, err := h.targetDir(ctrl, name, cfg.Path)
		if err != nil {
			return nil, nil, err
		}
		missing, existing := missingDirs(dir)
		probe := existing
		if len(missing) == 0 {
			probe = filepath.Join(dir, "cgroup.procs")
		}
		if !h.canWrite(probe) {
			if what, needed := needs[ctrl]; needed {
				err := noDelegation(ctrl, probe, fmt.Sprintf("cannot create a cgroup for %s: %s is not writable by uid %d", what, probe, h.euid), unix.EACCES)
				if err := refuse(cfg, &skipped, err); err != nil {
					return nil, nil, err
				}
				drop(ctrl)
			} else {
				skipped = append(skipped, fmt.Sprintf("controller %s: %s is not writable (no limit asked for it; left out)", ctrl, probe))
			}
			continue
		}
		plans = append(plans, plan{ctrl, dir, missing})
	}
	if len(plans) == 0 {
		// Not one hierarchy can be used: without BestEffort that is an
		// error even when no limit was asked for.
		var ctrls []string
		for _, ctrl := range v1Controllers {
			if _, ok := h.ownDir(ctrl); ok {
				ctrls = append(ctrls, ctrl)
			}
		}
		err := noDelegation(strings.Join(ctrls, ","), "", fmt.Sprintf("uid %d may not create cgroups in any v1 hierarchy (%s)", h.euid, strings.Join(ctrls, ", ")), unix.EACCES)
		if !cfg.BestEffort {
			return nil, nil, err
		}
		s.done = true
		return s, append(skipped, err.Error()), nil
	}

	// Build the containerd hierarchy over exactly these controllers.
	var subsystems []cgroup1.Subsystem
	libPaths := map[cgroup1.Name]string{}
	for _, p := range plans {
		m := h.v1[p.ctrl]
		root, path, err := v1Layout(m, p.ctrl, p.dir)
		if err != nil {
			return nil, nil, err
		}
		sub, err := v1Subsystem(p.ctrl, root, m.point)
		if err != nil {
			return nil, nil, err
		}
		subsystems = append(subsystems, sub)
		libPaths[cgroup1.Name(p.ctrl)] = path
		s.dirs[p.ctrl] = p.dir
		s.ctrls = append(s.ctrls, p.ctrl)
		for _, d := range p.missing {
			if !slices.Contains(s.created, d) {
				s.created = append(s.created, d)
			}
		}
		if p.ctrl == "freezer" {
			s.freezer = p.dir
		}
	}
	pathFn := func(n cgroup1.Name) (string, error) {
		if p, ok := libPaths[n]; ok {
			return p, nil
		}
		return "", cgroup1.ErrControllerNotActive
	}
	hier := func() ([]cgroup1.Subsystem, error) { return subsystems, nil }

	// Limits containerd writes wrongly or not at all are written below.
	libRes, extra := splitV1(res, s.dirs["blkio"])
	values := v1Values(res)
	for _, w := range extra {
		values[w.file] = w.value
	}
	cg, err := cgroup1.New(pathFn, libRes, cgroup1.WithHierarchy(hier), func(ic *cgroup1.InitConfig) error {
		ic.InitCheck = cgroup1.AllowAny
		return nil
	})
	if err != nil {
		err = s.wrapPathErr("create", err, values)
		_ = removeDirs(s.created)
		return nil, nil, err
	}
	s.cg1 = cg
	for _, w := range extra {
		if err := s.writeFile(s.dirs[w.ctrl], w); err != nil {
			_ = removeDirs(s.created)
			return nil, nil, err
		}
	}
	return s, skipped, nil
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// v1Subsystem makes containerd's controller object for c. The memory
// controller is told which optional files (swap, kernel memory) this kernel
// lacks, else its Stat fails on the first missing one.
func v1Subsystem(c, root, mountPoint string) (cgroup1.Subsystem, error) {
	switch c {
	case "cpu":
		return cgroup1.NewCpu(root), nil
	case "cpuacct":
		return cgroup1.NewCpuacct(root), nil
	case "cpuset":
		return cgroup1.NewCpuset(root), nil
	case "memory":
		var ignore []string
		for _, mod := range []string{"memsw", "kmem", "kmem.tcp"} {
			for _, f := range []string{"usage_in_bytes", "max_usage_in_bytes", "failcnt", "limit_in_bytes"} {
				if !exists(filepath.Join(mountPoint, "memory."+mod+"."+f)) {
					ignore = append(ignore, mod)
					break
				}
			}
		}
		return cgroup1.NewMemory(root, cgroup1.IgnoreModules(ignore...)), nil
	case "pids":
		return cgroup1.NewPids(root), nil
	case "blkio":
		return cgroup1.NewBlkio(root), nil
	case "hugetlb":
		return cgroup1.NewHugetlb(root)
	case "freezer":
		return cgroup1.NewFreezer(root), nil
	case "devices":
		return cgroup1.NewDevices(root), nil
	case "net_cls":
		return cgroup1.NewNetCls(root), nil
	case "net_prio":
		return cgroup1.NewNetPrio(root), nil
	case "rdma":
		return cgroup1.NewRdma(root), nil
	}
	return nil, fmt.Errorf("cgroups: unknown v1 controller %q", c)
}

// splitV1 separates what containerd's cgroup1 writes from what this package
// writes itself on v1:
//   - blkio weights: cgroup1 writes only blkio.weight / blkio.weight_device,
//     which exist only under CFQ; kernels since 5.0 have no CFQ and offer
//     blkio.bfq.weight (same 1..1000 scale) when BFQ is loaded, as here.
//   - cpu burst and idle: cgroup1 does not know cpu.cfs_burst_us or cpu.idle.
func splitV1(r *specs.LinuxResources, blkioDir string) (*specs.LinuxResources, []write) {
	lib := *r
	var extra []write
	if b := r.BlockIO; b != nil {
		bc := *b
		prefix := "blkio."
		if !exists(filepath.Join(filepath.Dir(blkioDir), "blkio.weight")) && !exists(filepath.Join(blkioDir, "blkio.weight")) {
			prefix = "blkio.bfq."
		}
		if b.Weight != nil {
			extra = append(extra, write{"blkio", prefix + "weight", fmt.Sprint(*b.Weight)})
		}
		if b.LeafWeight != nil {
			extra = append(extra, write{"blkio", "blkio.leaf_weight", fmt.Sprint(*b.LeafWeight)})
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				extra = append(extra, write{"blkio", prefix + "weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)})
			}
			if d.LeafWeight != nil {
				extra = append(extra, write{"blkio", "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight)})
			}
		}
		bc.Weight, bc.LeafWeight, bc.WeightDevice = nil, nil, nil
		lib.BlockIO = &bc
	}
	if c := r.CPU; c != nil {
		if c.Burst != nil {
			extra = append(extra, write{"cpu", "cpu.cfs_burst_us", fmt.Sprint(*c.Burst)})
		}
		if c.Idle != nil {
			extra = append(extra, write{"cpu", "cpu.idle", fmt.Sprint(*c.Idle)})
		}
	}
	return &lib, extra
}

// v1Values maps the v1 file names containerd's cgroup1 writes to the values
// asked for, so its errors can say which value failed.
func v1Values(r *specs.LinuxResources) map[string]string {
	v := map[string]string{}
	i64 := func(k string, p *int64) {
		if p != nil {
			v[k] = fmt.Sprint(*p)
		}
	}
	u64 := func(k string, p *uint64) {
		if p != nil {
			v[k] = fmt.Sprint(*p)
		}
	}
	if m := r.Memory; m != nil {
		i64("memory.limit_in_bytes", m.Limit)
		i64("memory.soft_limit_in_bytes", m.Reservation)
		i64("memory.memsw.limit_in_bytes", m.Swap)
		//lint:ignore SA1019 a request for kernel memory is applied on v1 as asked
		i64("memory.kmem.limit_in_bytes", m.Kernel)
		i64("memory.kmem.tcp.limit_in_bytes", m.KernelTCP)
		u64("memory.swappiness", m.Swappiness)
	}
	if c := r.CPU; c != nil {
		u64("cpu.shares", c.Shares)
		i64("cpu.cfs_quota_us", c.Quota)
		u64("cpu.cfs_period_us", c.Period)
		i64("cpu.rt_runtime_us", c.RealtimeRuntime)
		u64("cpu.rt_period_us", c.RealtimePeriod)
		if c.Cpus != "" {
			v["cpuset.cpus"] = c.Cpus
		}
		if c.Mems != "" {
			v["cpuset.mems"] = c.Mems
		}
	}
	if p := r.Pids; p != nil {
		i64("pids.max", p.Limit)
	}
	for _, hl := range r.HugepageLimits {
		v["hugetlb."+hl.Pagesize+".limit_in_bytes"] = fmt.Sprint(hl.Limit)
	}
	return v
}

// ---- cgroup v2 ----

func newV2(h *host, cfg Config, name string) (*sysCgroup, []string, error) {
	s := &sysCgroup{ver: 2, h: h, name: name, dirs: map[string]string{}, dirFD: -1}
	var skipped []string
	res := cfg.Resources
	target, err := h.targetDir("", name, cfg.Path)
	if err != nil {
		return nil, nil, err
	}
	missing, existing := missingDirs(target)
	ws, unsupported, err := planV2(res, false)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range unsupported {
		if err := refuse(cfg, &skipped, &Error{Op: "write", Err: fmt.Errorf("%s: %w", u, errors.ErrUnsupported)}); err != nil {
			return nil, nil, err
		}
	}
	wantDevices := res != nil && len(res.Devices) > 0

	// May we make a cgroup here at all?
	probe := existing
	if len(missing) == 0 {
		probe = filepath.Join(target, "cgroup.procs")
	}
	if !h.canWrite(probe) {
		err := noDelegation("", probe, fmt.Sprintf("cannot create a cgroup: %s is not writable by uid %d", probe, h.euid), unix.EACCES)
		if !cfg.BestEffort {
			return nil, nil, err
		}
		skipped = append(skipped, err.Error())
		s.done = true
		return s, skipped, nil
	}

	// Controllers: they must be offered to the deepest existing ancestor
	// (its cgroup.controllers), and enabled in its cgroup.subtree_control.
	// This package writes subtree_control only at and below that ancestor,
	// never above the caller's own cgroup.
	ctrls := v2Controllers(ws)
	if len(ctrls) > 0 && len(missing) == 0 {
		// An existing target: its parent must already enable them.
		existing = filepath.Dir(target)
	}
	var toEnable []string
	if len(ctrls) > 0 {
		offered := fields(filepath.Join(existing, "cgroup.controllers"))
		enabled := fields(filepath.Join(existing, "cgroup.subtree_control"))
		var unavailable []string
		for _, c := range ctrls {
			switch {
			case !slices.Contains(offered, c):
				unavailable = append(unavailable, c)
			case !slices.Contains(enabled, c):
				toEnable = append(toEnable, c)
			}
		}
		if len(unavailable) > 0 {
			why := fmt.Sprintf("controllers %s are not available in %s (its cgroup.controllers offers %q)", strings.Join(unavailable, ", "), existing, strings.Join(offered, " "))
			var err error
			if h.euid != 0 {
				err = noDelegation(strings.Join(unavailable, ","), existing, why+"; the parent did not delegate them", unix.EACCES)
			} else {
				err = &Error{Op: "enable", Controller: strings.Join(unavailable, ","), File: filepath.Join(existing, "cgroup.controllers"),
					Err: fmt.Errorf("%s; on a hybrid host they may be bound to cgroup v1: %w", why, errors.ErrUnsupported)}
			}
			if err := refuse(cfg, &skipped, err); err != nil {
				return nil, nil, err
			}
			ws = slices.DeleteFunc(ws, func(w write) bool { return slices.Contains(unavailable, w.ctrl) })
		}
		if len(toEnable) > 0 {
			stc := filepath.Join(existing, "cgroup.subtree_control")
			procs, _ := readPids(filepath.Join(existing, "cgroup.procs"))
			var err error
			switch {
			case existing != h.v2.point && len(procs) > 0:
				err = &Error{Op: "enable", Controller: strings.Join(toEnable, ","), File: stc, Value: "+" + strings.Join(toEnable, " +"),
					Err: fmt.Errorf("%w: %s holds processes (%d, the launcher's own cgroup among them), and cgroup v2's no-internal-process rule forbids enabling controllers for its children: %w",
						ErrNoDelegation, existing, len(procs), unix.EBUSY),
					Hint: "start the launcher in a leaf cgroup of a delegated subtree (e.g. under `systemd-run --user --scope -p Delegate=yes`, move it into <scope>/launcher) and give an absolute Path to a sibling such as <scope>/sandbox, or have the parent enable the controllers in " + stc + " first"}
			case !h.canWrite(stc):
				err = noDelegation(strings.Join(toEnable, ","), stc, fmt.Sprintf("cannot enable controllers %s: %s is not writable by uid %d", strings.Join(toEnable, ", "), stc, h.euid), unix.EACCES)
			}
			if err != nil {
				if err := refuse(cfg, &skipped, err); err != nil {
					return nil, nil, err
				}
				ws = slices.DeleteFunc(ws, func(w write) bool { return slices.Contains(toEnable, w.ctrl) })
				toEnable = nil
			}
		}
	}
	enable := func(dir string, cs []string) error {
		if len(cs) == 0 {
			return nil
		}
		return s.writeFile(dir, write{strings.Join(cs, ","), "cgroup.subtree_control", "+" + strings.Join(cs, " +")})
	}
	fail := func(err error) (*sysCgroup, []string, error) {
		if s.dirFD >= 0 {
			unix.Close(s.dirFD)
		}
		_ = removeDirs(s.created)
		return nil, nil, err
	}
	if err := enable(existing, toEnable); err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(err, unix.EBUSY) {
			e.Hint = "cgroup v2 no-internal-process rule: " + existing + " holds processes"
		}
		return fail(err)
	}
	for i, d := range missing {
		if err := unix.Mkdir(d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fail(&Error{Op: "create", File: d, Err: err})
		} else if err == nil {
			s.created = append(s.created, d)
		}
		if i < len(missing)-1 {
			if err := enable(d, v2Controllers(ws)); err != nil {
				return fail(err)
			}
		}
	}
	s.dir = target
	s.dirs["unified"] = target

	// Weights go to io.bfq.weight (1..1000, as v1) when BFQ offers it.
	if exists(filepath.Join(target, "io.bfq.weight")) {
		bws, _, _ := planV2(res, true)
		ws = slices.DeleteFunc(bws, func(w write) bool { return !slices.ContainsFunc(ws, func(x write) bool { return x.ctrl == w.ctrl }) })
	}
	for _, w := range ws {
		if err := s.writeFile(target, w); err != nil {
			return fail(err)
		}
	}
	fd, err := unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(&Error{Op: "open", File: target, Err: err})
	}
	s.dirFD = fd
	if wantDevices {
		// containerd's cgroup2 compiles the OCI device list to an eBPF
		// program and attaches it to the directory fd.
		insts, license, err := cgroup2.DeviceFilter(res.Devices)
		if err == nil {
			s.devClose, err = cgroup2.LoadAttachCgroupDeviceFilter(insts, license, fd)
		}
		if err != nil {
			err = &Error{Op: "write", Controller: "devices", File: target, Value: "eBPF device filter", Err: err}
			if err := refuse(cfg, &skipped, err); err != nil {
				return fail(err)
			}
		}
	}
	group := "/" + strings.TrimPrefix(strings.TrimPrefix(target, h.v2.point), "/")
	mgr, err := cgroup2.Load(group, cgroup2.WithMountpoint(h.v2.point))
	if err != nil {
		return fail(&Error{Op: "open", File: target, Err: err})
	}
	s.mgr = mgr
	return s, skipped, nil
}

func fields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// ---- common ----

func (s *sysCgroup) version() int {
	if s == nil {
		return 0
	}
	return s.ver
}

func (s *sysCgroup) fd() (int, bool) {
	if s.ver != 2 || s.dirFD < 0 {
		return -1, false
	}
	return s.dirFD, true
}

func (s *sysCgroup) paths() map[string]string {
	out := make(map[string]string, len(s.dirs))
	for k, v := range s.dirs {
		out[k] = v
	}
	return out
}

func (s *sysCgroup) add(pid int) error {
	if pid <= 0 {
		return &Error{Op: "add", Value: fmt.Sprint(pid), Err: unix.EINVAL}
	}
	if len(s.dirs) == 0 {
		return nil // BestEffort without any cgroup
	}
	if s.done {
		return &Error{Op: "add", Value: fmt.Sprint(pid), Err: errors.New("cgroup destroyed")}
	}
	var err error
	if s.ver == 1 {
		err = s.cg1.AddProc(uint64(pid))
	} else {
		err = s.mgr.AddProc(uint64(pid))
	}
	if err != nil {
		return s.wrapPathErr("add", err, map[string]string{"cgroup.procs": fmt.Sprint(pid)})
	}
	return nil
}

func (s *sysCgroup) stats() (*Stats, error) {
	st := &Stats{}
	if len(s.dirs) == 0 {
		return st, nil
	}
	if s.done {
		return nil, &Error{Op: "read", Err: errors.New("cgroup destroyed")}
	}
	if s.ver == 1 {
		m, err := s.cg1.Stat(func(err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		})
		if err != nil {
			return nil, s.wrapPathErr("read", err, nil)
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			st.MemoryPeak = m.Memory.Usage.Max
			st.MemoryLimit = memoryLimit(m.Memory.Usage.Limit)
			st.MemoryLimitHit = m.Memory.Usage.Failcnt > 0
			if m.Memory.Swap != nil && m.Memory.Swap.Failcnt > 0 {
				st.MemoryLimitHit = true // memory+swap limit hit first
			}
			// Recent kernels no longer count failcnt on v1 (it stays 0, seen
			// on 6.18): a peak at the limit says the same.
			if l := m.Memory.Usage.Limit; l > 0 && l < 1<<62 && m.Memory.Usage.Max >= l {
				st.MemoryLimitHit = true
			}
		}
		if m.MemoryOomControl != nil {
			st.OOMKills = m.MemoryOomControl.OomKill
			st.MemoryLimitHit = st.MemoryLimitHit || st.OOMKills > 0
		}
		if m.CPU != nil && m.CPU.Usage != nil {
			st.CPUUsage = time.Duration(m.CPU.Usage.Total)
			st.CPUUser = time.Duration(m.CPU.Usage.User)
			st.CPUSystem = time.Duration(m.CPU.Usage.Kernel)
		}
		if m.Pids != nil {
			st.PidsPeak = m.Pids.Current
		}
	} else {
		m, err := s.mgr.Stat()
		if err != nil {
			return nil, s.wrapPathErr("read", err, nil)
		}
		if m.Memory != nil {
			st.MemoryPeak = m.Memory.MaxUsage
			st.MemoryLimit = memoryLimit(m.Memory.UsageLimit)
		}
		if m.MemoryEvents != nil {
			st.MemoryLimitHit = m.MemoryEvents.Max > 0
			st.OOMKills = m.MemoryEvents.OomKill
		}
		if m.CPU != nil {
			st.CPUUsage = time.Duration(m.CPU.UsageUsec) * time.Microsecond
			st.CPUUser = time.Duration(m.CPU.UserUsec) * time.Microsecond
			st.CPUSystem = time.Duration(m.CPU.SystemUsec) * time.Microsecond
		}
		if m.Pids != nil {
			st.PidsPeak = m.Pids.Current
		}
	}
	st.OOMKilled = st.OOMKills > 0
	// Neither containerd package reads pids.peak or pids.events.
	if d, ok := s.dirs["pids"]; ok || s.ver == 2 {
		if s.ver == 2 {
			d = s.dir
		}
		if v, err := readUint(filepath.Join(d, "pids.peak")); err == nil && v > 0 {
			st.PidsPeak = v
		}
		if ev, err := readKV(filepath.Join(d, "pids.events")); err == nil {
			st.PidsLimitHit = ev["max"] > 0
		}
	}
	return st, nil
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

func (s *sysCgroup) destroy() error {
	if s.done {
		return nil
	}
	var dirs []string
	for _, d := range s.dirs {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	freezer := s.freezer
	if s.ver == 2 {
		freezer = s.dir
	}
	if err := killAll(s.ver, dirs, freezer, destroyTimeout); err != nil {
		return err
	}
	if s.devClose != nil {
		_ = s.devClose()
		s.devClose = nil
	}
	if s.dirFD >= 0 {
		unix.Close(s.dirFD)
		s.dirFD = -1
	}
	// containerd removes the cgroup directories (it refuses while a
	// process remains); nested cgroups the sandbox made and the
	// intermediate directories of a relative Path are ours to remove.
	var libErr error
	if s.ver == 1 {
		libErr = s.cg1.Delete()
	} else {
		libErr = s.mgr.Delete()
	}
	var errs []error
	for _, d := range dirs {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeDirs(s.created); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		if libErr != nil {
			errs = append(errs, libErr)
		}
		return errors.Join(errs...)
	}
	s.done = true
	live.Delete(s.name)
	return nil
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
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return &Error{Op: "remove", File: dir, Err: err}
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
			return &Error{Op: "kill", File: strings.Join(dirs, " "), Value: fmt.Sprint(pids),
				Err: fmt.Errorf("processes still alive after %v: %w", timeout, unix.EBUSY)}
		}
		if killFile != "" {
			if err := os.WriteFile(killFile, []byte("1"), 0); err == nil {
				time.Sleep(delay)
				continue
			}
		}
		frozen := freezer != "" && freeze(ver, freezer, true, 200*time.Millisecond)
		for _, p := range unionPids(dirs) {
			_ = unix.Kill(p, unix.SIGKILL)
		}
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
