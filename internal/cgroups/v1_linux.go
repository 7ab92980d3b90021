package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Cgroup is a sandbox cgroup on cgroup v1: one directory per hierarchy
// it uses.
type v1Cgroup struct {
	base
	ctrls   []string // controllers in use, in v1Controllers order
	freezer string   // freezer directory, if in use
}

func (s *v1Cgroup) version() int    { return 1 }
func (s *v1Cgroup) fd() (int, bool) { return -1, false }

func newV1(h *host, cfg Config, name string) (*v1Cgroup, []string, error) {
	s := &v1Cgroup{base: base{h: h, name: name, dirs: map[string]string{}}}
	var skipped []string
	res := &specs.LinuxResources{}
	if cfg.Resources != nil {
		cp := *cfg.Resources
		res = &cp
	}
	if len(res.Unified) > 0 {
		if err := refuse(cfg, &skipped, cgError("write", "", "unified", "", fmt.Errorf("linux.resources.unified needs cgroup v2, this host limits through cgroup v1: %w", errors.ErrUnsupported))); err != nil {
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
		if err := refuse(strictFor(cfg, ctrl), &skipped, cgError("create", ctrl, "", "", fmt.Errorf("%s: %w", why, errors.ErrUnsupported))); err != nil {
			return nil, nil, err
		}
		drop(ctrl)
	}
	// Features some kernels lack inside a controller.
	if m := res.Memory; m != nil && m.Swap != nil {
		if mm, ok := h.v1["memory"]; ok && !exists(filepath.Join(mm.point, "memory.memsw.limit_in_bytes")) {
			err := cgError("write", "memory", "memory.memsw.limit_in_bytes", fmt.Sprint(*m.Swap), fmt.Errorf("swap accounting is off in this kernel (boot with swapaccount=1): %w", errors.ErrUnsupported))
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
				err := noDelegation(ctrl, probe, fmt.Sprintf("cannot create a cgroup for %s: %s is not writable by %s", what, probe, h.who()), unix.EACCES)
				if err := refuse(strictFor(cfg, ctrl), &skipped, err); err != nil {
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
		err := noDelegation(strings.Join(ctrls, ","), "", fmt.Sprintf("%s may not create cgroups in any v1 hierarchy (%s)", h.who(), strings.Join(ctrls, ", ")), unix.EACCES)
		if !cfg.BestEffort || len(res.Devices) > 0 {
			return nil, nil, err
		}
		s.done = true
		return s, append(skipped, err.Error()), nil
	}

	fail := func(err error) (*v1Cgroup, []string, error) {
		_ = removeDirs(s.created)
		return nil, nil, err
	}
	// The directories, parents first; a new cpuset cgroup starts with no
	// cpus and no mems and takes no process until it has both.
	for _, p := range plans {
		for _, d := range p.missing {
			if err := unix.Mkdir(d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return fail(cgError("create", p.ctrl, d, "", err))
			} else if err == nil && !slices.Contains(s.created, d) {
				s.created = append(s.created, d)
			}
		}
		if p.ctrl == "cpuset" {
			for _, d := range append(slices.Clone(p.missing), p.dir) {
				if err := h.inheritCpuset(d); err != nil {
					return fail(err)
				}
			}
		}
		s.dirs[p.ctrl] = p.dir
		s.ctrls = append(s.ctrls, p.ctrl)
		if p.ctrl == "freezer" {
			s.freezer = p.dir
		}
	}
	ws, err := v1Writes(res, s.dirs["blkio"], s.dirs["memory"])
	if err != nil {
		return fail(err)
	}
	for _, w := range ws {
		if err := h.writeFile("write", s.dirs[w.ctrl], w); err != nil {
			return fail(err)
		}
	}
	return s, skipped, nil
}

// inheritCpuset copies cpuset.cpus and cpuset.mems from dir's parent
// where dir has none yet.
func (h *host) inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil && strings.TrimSpace(string(cur)) != "" {
			continue
		}
		parent := filepath.Join(filepath.Dir(dir), f)
		v, err := os.ReadFile(parent)
		if err != nil {
			return cgError("create", "cpuset", parent, "", err)
		}
		if err := h.writeFile("create", dir, write{"cpuset", f, strings.TrimSpace(string(v))}); err != nil {
			return err
		}
	}
	return nil
}

// v1Writes lists the v1 files and values for r, in the order they must be
// written: memory limit before memory+swap (unless the current memory+swap
// limit is below the new memory limit), cpu period before quota, device
// rules after a deny of everything. blkioDir and memDir, when set, are
// looked at to choose files.
func v1Writes(r *specs.LinuxResources, blkioDir, memDir string) ([]write, error) {
	var ws []write
	add := func(ctrl, file, value string) { ws = append(ws, write{ctrl, file, value}) }
	i64 := func(ctrl, file string, p *int64) {
		if p != nil {
			add(ctrl, file, strconv.FormatInt(*p, 10))
		}
	}
	u64 := func(ctrl, file string, p *uint64) {
		if p != nil {
			add(ctrl, file, strconv.FormatUint(*p, 10))
		}
	}
	if m := r.Memory; m != nil {
		swapFirst := false
		if m.Swap != nil && m.Limit != nil && *m.Limit > 0 && memDir != "" {
			cur, err := readUint(filepath.Join(memDir, "memory.memsw.limit_in_bytes"))
			swapFirst = err == nil && cur < uint64(*m.Limit)
		}
		if swapFirst {
			i64("memory", "memory.memsw.limit_in_bytes", m.Swap)
		}
		i64("memory", "memory.limit_in_bytes", m.Limit)
		if !swapFirst {
			i64("memory", "memory.memsw.limit_in_bytes", m.Swap)
		}
		i64("memory", "memory.soft_limit_in_bytes", m.Reservation)
		//lint:ignore SA1019 a request for kernel memory is applied on v1 as asked
		i64("memory", "memory.kmem.limit_in_bytes", m.Kernel)
		i64("memory", "memory.kmem.tcp.limit_in_bytes", m.KernelTCP)
		u64("memory", "memory.swappiness", m.Swappiness)
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			add("memory", "memory.oom_control", "1")
		}
	}
	if c := r.CPU; c != nil {
		u64("cpu", "cpu.shares", c.Shares)
		u64("cpu", "cpu.cfs_period_us", c.Period)
		i64("cpu", "cpu.cfs_quota_us", c.Quota)
		u64("cpu", "cpu.rt_period_us", c.RealtimePeriod)
		i64("cpu", "cpu.rt_runtime_us", c.RealtimeRuntime)
		u64("cpu", "cpu.cfs_burst_us", c.Burst)
		i64("cpu", "cpu.idle", c.Idle)
		if c.Cpus != "" {
			add("cpuset", "cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpuset", "cpuset.mems", c.Mems)
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		add("pids", "pids.max", limitString(*p.Limit))
		if *p.Limit == 0 {
			ws[len(ws)-1].value = "max"
		}
	}
	if b := r.BlockIO; b != nil {
		// Weights: blkio.weight exists only under CFQ; kernels since 5.0
		// have no CFQ and offer blkio.bfq.weight (same scale) with BFQ.
		prefix := "blkio."
		if !exists(filepath.Join(filepath.Dir(blkioDir), "blkio.weight")) && !exists(filepath.Join(blkioDir, "blkio.weight")) {
			prefix = "blkio.bfq."
		}
		if b.Weight != nil {
			add("blkio", prefix+"weight", fmt.Sprint(*b.Weight))
		}
		if b.LeafWeight != nil {
			add("blkio", "blkio.leaf_weight", fmt.Sprint(*b.LeafWeight))
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				add("blkio", prefix+"weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
			}
			if d.LeafWeight != nil {
				add("blkio", "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight))
			}
		}
		for _, t := range []struct {
			file string
			devs []specs.LinuxThrottleDevice
		}{
			{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
			{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
			{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
			{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				add("blkio", t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate))
			}
		}
	}
	for _, hl := range r.HugepageLimits {
		add("hugetlb", "hugetlb."+hl.Pagesize+".limit_in_bytes", strconv.FormatUint(hl.Limit, 10))
	}
	if len(r.Devices) > 0 {
		add("devices", "devices.deny", "a")
		for i, d := range r.Devices {
			line, err := v1DeviceRule(d)
			if err != nil {
				return nil, cgError("write", "devices", "devices.allow", fmt.Sprintf("linux.resources.devices[%d]", i), err)
			}
			file := "devices.deny"
			if d.Allow {
				file = "devices.allow"
			}
			add("devices", file, line)
		}
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			add("net_cls", "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10))
		}
		for _, p := range n.Priorities {
			add("net_prio", "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority))
		}
	}
	for _, d := range sortedKeys(r.Rdma) {
		l := r.Rdma[d]
		var parts []string
		if l.HcaHandles != nil {
			parts = append(parts, fmt.Sprintf("hca_handle=%d", *l.HcaHandles))
		}
		if l.HcaObjects != nil {
			parts = append(parts, fmt.Sprintf("hca_object=%d", *l.HcaObjects))
		}
		if len(parts) > 0 {
			add("rdma", "rdma.max", d+" "+strings.Join(parts, " "))
		}
	}
	return ws, nil
}

func (s *v1Cgroup) add(pid int) error {
	if ok, err := s.checkAdd(pid); !ok {
		return err
	}
	var done []string // co-mounted hierarchies (cpu,cpuacct) share a directory
	for _, c := range s.ctrls {
		if slices.Contains(done, s.dirs[c]) {
			continue
		}
		if err := s.addPid(c, s.dirs[c], pid); err != nil {
			return err
		}
		done = append(done, s.dirs[c])
	}
	return nil
}

func (s *v1Cgroup) stats() (*Stats, error) {
	if st, err := s.statsReady(); st != nil || err != nil {
		return st, err
	}
	st := &Stats{}
	if d, ok := s.dirs["memory"]; ok {
		f := func(name string) (uint64, error) { return readStat("memory", filepath.Join(d, name), readUint) }
		var err error
		var limit, failcnt, swapFail uint64
		if st.MemoryPeak, err = f("memory.max_usage_in_bytes"); err != nil {
			return nil, err
		}
		if limit, err = f("memory.limit_in_bytes"); err != nil {
			return nil, err
		}
		if failcnt, err = f("memory.failcnt"); err != nil {
			return nil, err
		}
		if swapFail, err = f("memory.memsw.failcnt"); err != nil {
			return nil, err
		}
		st.MemoryLimit = memoryLimit(limit)
		// Recent kernels no longer count failcnt on v1 (it stays 0, seen
		// on 6.18): a peak at the limit says the same.
		st.MemoryLimitHit = failcnt > 0 || swapFail > 0 || st.MemoryLimit > 0 && st.MemoryPeak >= st.MemoryLimit
		oc, err := readStat("memory", filepath.Join(d, "memory.oom_control"), readKV)
		if err != nil {
			return nil, err
		}
		st.OOMKills = oc["oom_kill"]
		st.MemoryLimitHit = st.MemoryLimitHit || st.OOMKills > 0
	}
	if d, ok := s.dirs["cpuacct"]; ok {
		f := func(name string) (uint64, error) { return readStat("cpuacct", filepath.Join(d, name), readUint) }
		total, err := f("cpuacct.usage")
		if err != nil {
			return nil, err
		}
		st.CPUUsage = time.Duration(total)
		if exists(filepath.Join(d, "cpuacct.usage_user")) {
			user, err := f("cpuacct.usage_user")
			if err != nil {
				return nil, err
			}
			sys, err := f("cpuacct.usage_sys")
			if err != nil {
				return nil, err
			}
			st.CPUUser, st.CPUSystem = time.Duration(user), time.Duration(sys)
		} else {
			// cpuacct.stat counts USER_HZ (100 a second) ticks.
			kv, err := readStat("cpuacct", filepath.Join(d, "cpuacct.stat"), readKV)
			if err != nil {
				return nil, err
			}
			st.CPUUser, st.CPUSystem = time.Duration(kv["user"])*10*time.Millisecond, time.Duration(kv["system"])*10*time.Millisecond
		}
	}
	if d, ok := s.dirs["pids"]; ok {
		if err := pidsStats(st, d); err != nil {
			return nil, err
		}
	}
	st.OOMKilled = st.OOMKills > 0
	return st, nil
}

func (s *v1Cgroup) destroy() error { return s.remove(1, s.freezer) }
