package cgroups

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// write is one value for one cgroup file.
type write struct {
	ctrl  string
	file  string
	value string
}

// ctrlNeed is a controller some limit requires, and which limit (for messages).
type ctrlNeed struct {
	ctrl string
	what string
}

// sharesToWeight converts v1 cpu.shares [2, 262144] to v2 cpu.weight
// [1, 10000] with the linear mapping runc and crun use; 0 means unset.
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// blkioToIOWeight converts a v1 blkio weight [10, 1000] to a v2 io.weight
// [1, 10000].
func blkioToIOWeight(w uint16) uint64 {
	v := min(max(uint64(w), 10), 1000)
	return 1 + (v-10)*9999/990
}

// limitString formats a v2 byte or count limit; negative means "max".
func limitString(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// swapV2 turns OCI memory.swap (memory+swap) into memory.swap.max (swap
// alone). ok is false when nothing is to be written.
func swapV2(swap, limit *int64) (value string, ok bool, err error) {
	if swap == nil {
		if limit != nil && *limit == -1 {
			// Unlimited memory: unlimited swap too, as on v1.
			return "max", true, nil
		}
		return "", false, nil
	}
	switch {
	case *swap == -1:
		return "max", true, nil
	case *swap == 0:
		return "", false, nil
	case limit == nil || *limit <= 0:
		return "", false, fmt.Errorf("memory.swap %d needs a memory.limit: on cgroup v2 swap is limited apart from memory", *swap)
	case *swap < *limit:
		return "", false, fmt.Errorf("memory.swap %d (memory+swap) is below memory.limit %d", *swap, *limit)
	}
	return strconv.FormatInt(*swap-*limit, 10), true, nil
}

// cpuMax formats cpu.max from OCI quota and period.
func cpuMax(quota *int64, period *uint64) (string, bool) {
	if quota == nil && period == nil {
		return "", false
	}
	q := "max"
	if quota != nil && *quota > 0 {
		q = strconv.FormatInt(*quota, 10)
	}
	if period != nil && *period > 0 {
		return q + " " + strconv.FormatUint(*period, 10), true
	}
	// No period: the kernel keeps the cgroup's period (100000 by default).
	return q, true
}

// planV2 lists the cgroup v2 files and values for r, and the parts of r v2
// cannot express. bfq says whether io.bfq.weight exists (then weights are
// written there on the v1 scale, else to io.weight on the v2 scale).
func planV2(r *specs.LinuxResources, bfq bool) (ws []write, unsupported []string, err error) {
	if r == nil {
		return nil, nil, nil
	}
	add := func(ctrl, file, value string) { ws = append(ws, write{ctrl, file, value}) }
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			add("cpu", "cpu.weight", strconv.FormatUint(sharesToWeight(*c.Shares), 10))
		}
		if v, ok := cpuMax(c.Quota, c.Period); ok {
			add("cpu", "cpu.max", v)
		}
		if c.Burst != nil {
			add("cpu", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10))
		}
		if c.Idle != nil {
			add("cpu", "cpu.idle", strconv.FormatInt(*c.Idle, 10))
		}
		if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
			unsupported = append(unsupported, "cpu.realtimeRuntime/realtimePeriod (no realtime group scheduling on cgroup v2)")
		}
		if c.Cpus != "" {
			add("cpuset", "cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpuset", "cpuset.mems", c.Mems)
		}
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit != 0 {
			add("memory", "memory.max", limitString(*m.Limit))
		}
		v, ok, err := swapV2(m.Swap, m.Limit)
		if err != nil {
			return nil, nil, cgError("write", "memory", "memory.swap.max", "", err)
		}
		if ok {
			add("memory", "memory.swap.max", v)
		}
		if m.Reservation != nil && *m.Reservation != 0 {
			add("memory", "memory.low", limitString(*m.Reservation))
		}
		//lint:ignore SA1019 Kernel is deprecated, but a request for it must not pass unnoticed
		if m.Kernel != nil || m.KernelTCP != nil {
			unsupported = append(unsupported, "memory.kernel/kernelTCP (no kernel memory limit on cgroup v2)")
		}
		if m.Swappiness != nil {
			unsupported = append(unsupported, "memory.swappiness (no per-cgroup swappiness on cgroup v2)")
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			unsupported = append(unsupported, "memory.disableOOMKiller (cgroup v2 cannot disable the OOM killer)")
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		add("pids", "pids.max", limitString(*p.Limit))
		if *p.Limit == 0 {
			ws[len(ws)-1].value = "max"
		}
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 {
			if bfq {
				add("io", "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10))
			} else {
				add("io", "io.weight", strconv.FormatUint(blkioToIOWeight(*b.Weight), 10))
			}
		}
		if b.LeafWeight != nil {
			unsupported = append(unsupported, "blockIO.leafWeight (CFQ only; no cgroup v2 equivalent)")
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				if bfq {
					add("io", "io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
				} else {
					add("io", "io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioToIOWeight(*d.Weight)))
				}
			}
			if d.LeafWeight != nil {
				unsupported = append(unsupported, "blockIO.weightDevice.leafWeight (CFQ only; no cgroup v2 equivalent)")
			}
		}
		for _, t := range []struct {
			key  string
			devs []specs.LinuxThrottleDevice
		}{
			{"rbps", b.ThrottleReadBpsDevice},
			{"wbps", b.ThrottleWriteBpsDevice},
			{"riops", b.ThrottleReadIOPSDevice},
			{"wiops", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				add("io", "io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, t.key, d.Rate))
			}
		}
	}
	for _, h := range r.HugepageLimits {
		add("hugetlb", "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10))
	}
	if len(r.Rdma) > 0 {
		devs := make([]string, 0, len(r.Rdma))
		for d := range r.Rdma {
			devs = append(devs, d)
		}
		sort.Strings(devs)
		for _, d := range devs {
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
	}
	if r.Network != nil && (r.Network.ClassID != nil || len(r.Network.Priorities) > 0) {
		unsupported = append(unsupported, "network.classID/priorities (net_cls/net_prio do not exist on cgroup v2)")
	}
	if len(r.Unified) > 0 {
		keys := make([]string, 0, len(r.Unified))
		for k := range r.Unified {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
				return nil, nil, cgError("write", "", k, r.Unified[k], errors.New("invalid unified key"))
			}
			ctrl, _, _ := strings.Cut(k, ".")
			if ctrl == "cgroup" {
				ctrl = ""
			}
			add(ctrl, k, r.Unified[k])
		}
	}
	return ws, unsupported, nil
}

// v2Controllers lists the controllers the writes need, in a stable order.
func v2Controllers(ws []write) []string {
	var out []string
	for _, w := range ws {
		if w.ctrl != "" && !slices.Contains(out, w.ctrl) {
			out = append(out, w.ctrl)
		}
	}
	return out
}

// neededV1 lists the v1 controllers r requires.
func neededV1(r *specs.LinuxResources) []ctrlNeed {
	if r == nil {
		return nil
	}
	var n []ctrlNeed
	if len(r.Devices) > 0 {
		n = append(n, ctrlNeed{"devices", "linux.resources.devices"})
	}
	if m := r.Memory; m != nil {
		n = append(n, ctrlNeed{"memory", "memory limits"})
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil || c.Idle != nil ||
			c.RealtimePeriod != nil || c.RealtimeRuntime != nil {
			n = append(n, ctrlNeed{"cpu", "cpu shares/quota/period"})
		}
		if c.Cpus != "" || c.Mems != "" {
			n = append(n, ctrlNeed{"cpuset", "cpuset cpus/mems"})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		n = append(n, ctrlNeed{"pids", "pids limit"})
	}
	if r.BlockIO != nil {
		n = append(n, ctrlNeed{"blkio", "blockIO"})
	}
	if len(r.HugepageLimits) > 0 {
		n = append(n, ctrlNeed{"hugetlb", "hugepage limits"})
	}
	if r.Network != nil {
		if r.Network.ClassID != nil {
			n = append(n, ctrlNeed{"net_cls", "network classID"})
		}
		if len(r.Network.Priorities) > 0 {
			n = append(n, ctrlNeed{"net_prio", "network priorities"})
		}
	}
	if len(r.Rdma) > 0 {
		n = append(n, ctrlNeed{"rdma", "rdma limits"})
	}
	return n
}
