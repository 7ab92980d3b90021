package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// v2Cgroup is a sandbox cgroup on cgroup v2: one directory, and a
// descriptor of it for CLONE_INTO_CGROUP.
type v2Cgroup struct {
	base
	dir   string
	dirFD int
}

func (s *v2Cgroup) version() int { return 2 }

func (s *v2Cgroup) fd() (int, bool) {
	if s.dirFD < 0 {
		return -1, false
	}
	return s.dirFD, true
}

func newV2(h *host, cfg Config, name string) (*v2Cgroup, []string, error) {
	s := &v2Cgroup{base: base{h: h, name: name, dirs: map[string]string{}}, dirFD: -1}
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
		if err := refuse(cfg, &skipped, cgError("write", "", "", "", fmt.Errorf("%s: %w", u, errors.ErrUnsupported))); err != nil {
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
		why := fmt.Sprintf("cannot create a cgroup: %s is not writable by %s", probe, h.who())
		if wantDevices {
			why += " (linux.resources.devices is never skipped)"
		}
		err := noDelegation("", probe, why, unix.EACCES)
		if !cfg.BestEffort || wantDevices {
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
			if h.rootless() {
				err = noDelegation(strings.Join(unavailable, ","), existing, why+"; the parent did not delegate them", unix.EACCES)
			} else {
				err = cgError("enable", strings.Join(unavailable, ","), filepath.Join(existing, "cgroup.controllers"), "", fmt.Errorf("%s; on a hybrid host they may be bound to cgroup v1: %w", why, errors.ErrUnsupported))
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
				err = withHint(cgError("enable", strings.Join(toEnable, ","), stc, "+"+strings.Join(toEnable, " +"), fmt.Errorf("%w: %s holds processes (%d, the launcher's own cgroup among them), and cgroup v2's no-internal-process rule forbids enabling controllers for its children: %w",
					ErrNoDelegation, existing, len(procs), unix.EBUSY)), "start the launcher in a leaf cgroup of a delegated subtree (e.g. under `systemd-run --user --scope -p Delegate=yes`, move it into <scope>/launcher) and give an absolute Path to a sibling such as <scope>/sandbox, or have the parent enable the controllers in "+stc+" first")
			case !h.canWrite(stc):
				err = noDelegation(strings.Join(toEnable, ","), stc, fmt.Sprintf("cannot enable controllers %s: %s is not writable by %s", strings.Join(toEnable, ", "), stc, h.who()), unix.EACCES)
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
		return h.writeFile("enable", dir, write{strings.Join(cs, ","), "cgroup.subtree_control", "+" + strings.Join(cs, " +")})
	}
	fail := func(err error) (*v2Cgroup, []string, error) {
		if s.dirFD >= 0 {
			unix.Close(s.dirFD)
		}
		_ = removeDirs(s.created)
		return nil, nil, err
	}
	if err := enable(existing, toEnable); err != nil {
		var e *sandbox.SetupError
		if errors.As(err, &e) && errors.Is(err, unix.EBUSY) {
			err = withHint(e, "cgroup v2 no-internal-process rule: "+existing+" holds processes")
		}
		return fail(err)
	}
	for i, d := range missing {
		if err := unix.Mkdir(d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fail(cgError("create", "", d, "", err))
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
		if err := h.writeFile("write", target, w); err != nil {
			return fail(err)
		}
	}
	fd, err := unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(cgError("open", "", target, "", err))
	}
	s.dirFD = fd
	if wantDevices {
		if err := attachDevices(target, res.Devices); err != nil {
			// Never skipped, not even with BestEffort: a device rule not
			// applied would leave every device open.
			return fail(err)
		}
	}
	return s, skipped, nil
}

// attachDevices compiles the OCI device rules to an eBPF device filter and
// attaches it to the cgroup v2 directory dir.
func attachDevices(dir string, devs []specs.LinuxDeviceCgroup) error {
	fail := func(err error) error {
		return cgError("write", "devices", dir, "linux.resources.devices (eBPF device filter)", err)
	}
	p, err := deviceProgram(devs)
	if err != nil {
		return fail(err)
	}
	// BPF_PROG_ATTACH takes no O_PATH descriptor.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	if err := attachDeviceFilter(p, fd); err != nil {
		return fail(err)
	}
	return nil
}

func (s *v2Cgroup) add(pid int) error {
	if ok, err := s.checkAdd(pid); !ok {
		return err
	}
	return s.addPid("", s.dir, pid)
}

func (s *v2Cgroup) stats() (*Stats, error) {
	if st, err := s.statsReady(); st != nil || err != nil {
		return st, err
	}
	st := &Stats{}
	file := func(name string) string { return filepath.Join(s.dir, name) }
	var err error
	if st.MemoryPeak, err = readStat("memory", file("memory.peak"), readUint); err != nil {
		return nil, err
	}
	limit, err := readStat("memory", file("memory.max"), readUint)
	if err != nil {
		return nil, err
	}
	st.MemoryLimit = memoryLimit(limit)
	ev, err := readStat("memory", file("memory.events"), readKV)
	if err != nil {
		return nil, err
	}
	st.MemoryLimitHit = ev["max"] > 0
	st.OOMKills = ev["oom_kill"]
	cpu, err := readStat("cpu", file("cpu.stat"), readKV)
	if err != nil {
		return nil, err
	}
	st.CPUUsage = time.Duration(cpu["usage_usec"]) * time.Microsecond
	st.CPUUser = time.Duration(cpu["user_usec"]) * time.Microsecond
	st.CPUSystem = time.Duration(cpu["system_usec"]) * time.Microsecond
	if err := pidsStats(st, s.dir); err != nil {
		return nil, err
	}
	st.OOMKilled = st.OOMKills > 0
	return st, nil
}

func (s *v2Cgroup) destroy() error {
	if s.done {
		return nil
	}
	freezer := s.dir
	if err := s.remove(2, freezer); err != nil {
		return err
	}
	if s.dirFD >= 0 {
		unix.Close(s.dirFD)
		s.dirFD = -1
	}
	return nil
}
