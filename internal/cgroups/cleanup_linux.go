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

	"golang.org/x/sys/unix"
)

// staleName reports whether name is a directory cleanup may remove,
// nsfork-PID-HEX, and returns its PID. (No regexp: linking package regexp
// makes every start of every program that links this package, and every
// fork child of it, initialise unicode's tables.)
func staleName(name string) (pid int, ok bool) {
	rest, ok := strings.CutPrefix(name, "nsfork-")
	if !ok {
		return 0, false
	}
	digits, hex, ok := strings.Cut(rest, "-")
	if !ok || digits == "" || hex == "" || strings.Trim(digits, "0123456789") != "" || strings.Trim(hex, "0123456789abcdef") != "" {
		return 0, false
	}
	pid, _ = strconv.Atoi(digits)
	return pid, true
}

// hierarchyDirs lists the caller's own cgroup directory in every hierarchy
// this package uses.
func (h *host) hierarchyDirs() map[string]string {
	out := map[string]string{}
	if h.mode == 2 {
		if d, ok := h.ownDir(""); ok {
			out["unified"] = d
		}
		return out
	}
	for _, c := range v1Controllers {
		if d, ok := h.ownDir(c); ok {
			out[c] = d
		}
	}
	return out
}

// cleanup removes stale sandbox cgroups owned by the caller (root: all).
// abandonedOnly: only empty ones of
// a gone creator (CleanupAbandoned); otherwise also a gone creator's
// leftover processes are killed and a live creator's empty cgroups go
// (Cleanup, on a user's request).
func cleanup(h *host, olderThan time.Duration, abandonedOnly bool) ([]string, error) {
	// Group the candidates by name: on v1 one sandbox has a directory per
	// hierarchy.
	type cand struct {
		dirs    []string
		freezer string
		pid     int
		born    time.Time
	}
	cands := map[string]*cand{}
	var order []string
	for ctrl, own := range h.hierarchyDirs() {
		entries, err := os.ReadDir(own)
		if err != nil {
			continue
		}
		for _, e := range entries {
			pid, stale := staleName(e.Name())
			if !stale || !e.IsDir() {
				continue
			}
			dir := filepath.Join(own, e.Name())
			var st unix.Stat_t
			if unix.Stat(dir, &st) != nil {
				continue
			}
			// A user's cleanup takes only the user's own cgroups: another
			// user's (root's) stale sandbox is not this caller's to remove,
			// and failing on it would make every user's cleanup fail.
			if h.rootless() && int(st.Uid) != h.euid {
				continue
			}
			born := time.Unix(st.Ctim.Unix())
			c, ok := cands[e.Name()]
			if !ok {
				c = &cand{pid: pid, born: born}
				cands[e.Name()] = c
				order = append(order, e.Name())
			}
			if born.Before(c.born) {
				c.born = born
			}
			c.dirs = append(c.dirs, dir)
			if ctrl == "freezer" || h.mode == 2 {
				c.freezer = dir
			}
		}
	}
	var removed []string
	var errs []error
	for _, name := range order {
		c := cands[name]
		if _, mine := live.Load(name); mine {
			continue
		}
		if time.Since(c.born) < olderThan {
			continue
		}
		gone := !h.alive(c.pid, c.born)
		empty := len(unionPids(c.dirs)) == 0
		stale := gone || empty
		if abandonedOnly {
			stale = gone && empty
		}
		if !stale {
			continue
		}
		if err := killAll(h.mode, c.dirs, c.freezer, destroyTimeout); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range c.dirs {
			if err := removeTree(d); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, d)
		}
	}
	return removed, errors.Join(errs...)
}

// alive says whether pid is a process that started no later than born (a
// later start means the pid was reused).
func (h *host) alive(pid int, born time.Time) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	start, err := h.startTime(pid)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	return !start.After(born.Add(time.Second))
}

// startTime reads when pid started, from /proc/<pid>/stat and btime.
func (h *host) startTime(pid int) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(h.procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return time.Time{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("bad stat line")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return time.Time{}, fmt.Errorf("bad stat line")
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	st, err := os.ReadFile(filepath.Join(h.procRoot, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			const hz = 100 // USER_HZ is 100 on every Linux ABI Go supports
			return time.Unix(bt, 0).Add(time.Duration(ticks) * time.Second / hz), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}

func probe(h *host) Report {
	r := Report{Version: h.mode, Hierarchies: h.hierarchyDirs(), Rootless: h.rootless()}
	if len(r.Hierarchies) == 0 {
		r.Reason = "cgroups are mounted, but this process's own cgroup is not visible (cgroup namespace?); no sandbox cgroup can be made"
		return r
	}
	if h.mode == 1 {
		var ok, not []string
		for c, d := range r.Hierarchies {
			if h.canWrite(d) {
				ok = append(ok, c)
			} else {
				not = append(not, c)
			}
		}
		slices.Sort(ok)
		slices.Sort(not)
		r.Delegated = len(not) == 0
		switch {
		case r.Delegated:
			r.Reason = fmt.Sprintf("cgroup v1: sandbox cgroups are made under this process's own cgroup in %s; all limits can be applied", strings.Join(ok, ", "))
		case len(ok) > 0:
			r.Reason = fmt.Sprintf("cgroup v1: only %s are writable by %s; limits on %s fail (or are skipped with BestEffort). To get delegation: %s",
				strings.Join(ok, ", "), h.who(), strings.Join(not, ", "), delegationHint)
		default:
			r.Reason = fmt.Sprintf("cgroup v1: %s may not create cgroups; asking for limits fails (BestEffort skips them). To get delegation: %s", h.who(), delegationHint)
		}
		return r
	}
	own := r.Hierarchies["unified"]
	offered := fields(filepath.Join(own, "cgroup.controllers"))
	enabled := fields(filepath.Join(own, "cgroup.subtree_control"))
	procs, _ := readPids(filepath.Join(own, "cgroup.procs"))
	writable := h.canWrite(own) && h.canWrite(filepath.Join(own, "cgroup.procs"))
	r.Delegated = writable && (!h.rootless() || h.canWrite(filepath.Join(own, "cgroup.subtree_control")))
	switch {
	case !r.Delegated:
		r.Reason = fmt.Sprintf("cgroup v2: %s is not delegated to %s; asking for limits fails (BestEffort skips them). To get delegation: %s", own, h.who(), delegationHint)
	default:
		r.Reason = fmt.Sprintf("cgroup v2: sandbox cgroups are made under %s; controllers offered: %q, enabled for children: %q", own, strings.Join(offered, " "), strings.Join(enabled, " "))
		if len(procs) > 0 && own != h.v2.point {
			var missing []string
			for _, c := range offered {
				if !slices.Contains(enabled, c) {
					missing = append(missing, c)
				}
			}
			if len(missing) > 0 {
				r.Reason += fmt.Sprintf("; %s cannot be enabled because %s holds processes (cgroup v2 no-internal-process rule): limits on them fail unless Path names a cgroup whose parent enables them", strings.Join(missing, ", "), own)
			}
		}
	}
	return r
}
