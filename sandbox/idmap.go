package sandbox

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MaxIDMapLines is the most lines a uid_map or gid_map may hold (Linux 4.15
// and later; older kernels allow 5).
const MaxIDMapLines = 340

// Files that list subordinate id ranges, read by newuidmap and newgidmap.
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// IDRange is a range of host ids, [Start, Start+Size).
type IDRange struct {
	Start uint32 `json:"start"`
	Size  uint32 `json:"size"`
}

func (r IDRange) String() string { return span(uint64(r.Start), uint64(r.Size)) }

// span formats [start, start+size) as "first-last".
func span(start, size uint64) string {
	if size == 0 {
		return fmt.Sprintf("%d-(empty)", start)
	}
	return fmt.Sprintf("%d-%d", start, start+size-1)
}

// LookupSubIDs returns the subordinate id ranges that file (SubUIDFile or
// SubGIDFile, format "owner:start:count") grants to the user named user or
// with uid uid, the way newuidmap and newgidmap match them. user may be ""
// and uid negative to leave that key out. A missing file grants nothing and
// is no error.
func LookupSubIDs(user string, uid int, file string) ([]IDRange, error) {
	return lookupSubIDs(liveHost(), user, uid, file)
}

// ParseSubIDs parses an /etc/subuid style listing and returns the ranges of
// the user named user or with uid uid (see LookupSubIDs). Blank lines and
// lines starting with '#' are skipped; any other line that is not
// "owner:start:count" is an error naming the line.
func ParseSubIDs(r io.Reader, user string, uid int) ([]IDRange, error) {
	return parseSubIDs(r, func(owner string) bool {
		return (user != "" && owner == user) || (uid >= 0 && owner == strconv.Itoa(uid))
	})
}

// AllSubIDs returns every range that file (SubUIDFile or SubGIDFile) grants
// to anyone. A missing file grants nothing and is no error.
func AllSubIDs(file string) ([]IDRange, error) {
	b, err := liveHost().readFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := parseSubIDs(bytes.NewReader(b), func(string) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return r, nil
}

func parseSubIDs(r io.Reader, match func(owner string) bool) ([]IDRange, error) {
	var out []IDRange
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("line %d: %q is not owner:start:count", n, line)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || start+count > 1<<32 {
			return nil, fmt.Errorf("line %d: %q: start and count must be ids below 2^32", n, line)
		}
		if !match(f[0]) {
			continue
		}
		if count > 0 {
			out = append(out, IDRange{Start: uint32(start), Size: uint32(count)})
		}
	}
	return out, sc.Err()
}

// covers reports whether the union of ranges holds all of [start, start+size).
func covers(ranges []IDRange, start, size uint64) bool {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b IDRange) int { return cmp.Compare(a.Start, b.Start) })
	end := start + size
	for _, r := range rs {
		lo, hi := uint64(r.Start), uint64(r.Start)+uint64(r.Size)
		if lo > start {
			return false // a hole before r
		}
		if hi > start {
			start = hi
		}
		if start >= end {
			return true
		}
	}
	return start >= end
}

// EffectiveIDMappings returns the uid and gid maps to write for a new user
// namespace: the configured ones, or, where one is empty, the caller's own
// euid (egid) mapped to 0. For a root caller that gives neither, both are
// the first range of nsfork's pool (see LeasesIDRange): the fork package
// maps the range it leases at start instead. Both are nil without a new
// user namespace.
func (o *Options) EffectiveIDMappings() (uidMap, gidMap []specs.LinuxIDMapping) {
	return o.effectiveIDMappings(liveHost())
}

func (o *Options) effectiveIDMappings(h *host) (uidMap, gidMap []specs.LinuxIDMapping) {
	if !o.NewNamespace(specs.UserNamespace) {
		return nil, nil
	}
	if o.leasesIDRange(h) {
		return PoolRange(0), PoolRange(0)
	}
	uidMap, gidMap = o.UIDMappings, o.GIDMappings
	if len(uidMap) == 0 {
		uidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(h.euid), Size: 1}}
	}
	if len(gidMap) == 0 {
		gidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(h.egid), Size: 1}}
	}
	return uidMap, gidMap
}

// NeedsIDMapHelper reports whether the id maps must be written by the setuid
// helpers newuidmap and newgidmap: the caller is not root, creates a user
// namespace, and maps more than its own euid and egid (one id each). When it
// is false and the caller is not host root, the parent writes the maps
// itself and must write "deny" to /proc/PID/setgroups first, so the child
// cannot call setgroups (Validate rejects additional gids in that case).
// Root of a user namespace other than the initial one never needs them: it
// maps any id its own namespace has itself.
func (o *Options) NeedsIDMapHelper() bool {
	return o.needsIDMapHelper(liveHost())
}

func (o *Options) needsIDMapHelper(h *host) bool {
	if !h.rootless() || h.nsRoot() || !o.NewNamespace(specs.UserNamespace) {
		return false
	}
	u, g := o.effectiveIDMappings(h)
	return !ownIDOnly(u, h.euid) || !ownIDOnly(g, h.egid)
}

func ownIDOnly(m []specs.LinuxIDMapping, id int) bool {
	return len(m) == 1 && m[0].Size == 1 && int64(m[0].HostID) == int64(id)
}

// mapped reports whether id lies in a container range of m.
func mapped(m []specs.LinuxIDMapping, id uint32) bool {
	for _, e := range m {
		if uint64(id) >= uint64(e.ContainerID) && uint64(id) < uint64(e.ContainerID)+uint64(e.Size) {
			return true
		}
	}
	return false
}

// validateIDMap checks one of uidMappings and gidMappings. kind is "uid" or
// "gid", own the caller's euid or egid and file where its subordinate ids
// are listed.
func validateIDMap(errs *errList, h *host, field, kind string, m []specs.LinuxIDMapping, own int, file string) {
	if len(m) > MaxIDMapLines {
		errs.add(field, "", fmt.Sprintf("%d lines, more than the kernel's limit of %d", len(m), MaxIDMapLines))
		return
	}
	// The kernel takes the whole map in one write of less than a page.
	size := 0
	for _, e := range m {
		size += len(fmt.Sprintf("%d %d %d\n", e.ContainerID, e.HostID, e.Size))
	}
	if size >= 4096 {
		errs.add(field, "", fmt.Sprintf("%d bytes written out, the kernel takes less than 4096: merge adjacent ranges", size))
		return
	}
	for i, e := range m {
		f := fmt.Sprintf("%s[%d]", field, i)
		c, hs, n := uint64(e.ContainerID), uint64(e.HostID), uint64(e.Size)
		if n == 0 {
			errs.add(f, "", "size is 0")
			continue
		}
		if c+n > 1<<32 {
			errs.add(f, "", fmt.Sprintf("container range %s goes past 2^32-1", span(c, n)))
		}
		if hs+n > 1<<32 {
			errs.add(f, "", fmt.Sprintf("host range %s goes past 2^32-1", span(hs, n)))
		}
		for j, p := range m[:i] {
			if p.Size == 0 {
				continue
			}
			if overlap(c, n, uint64(p.ContainerID), uint64(p.Size)) {
				errs.add(f, "", fmt.Sprintf("ranges overlap with %s[%d] (container %s)", field, j, span(uint64(p.ContainerID), uint64(p.Size))))
			}
			if overlap(hs, n, uint64(p.HostID), uint64(p.Size)) {
				errs.add(f, "", fmt.Sprintf("ranges overlap with %s[%d] (host %s)", field, j, span(uint64(p.HostID), uint64(p.Size))))
			}
		}
	}
	if !h.rootless() || ownIDOnly(m, own) {
		return
	}
	if h.nsRoot() {
		validateNSRootMap(errs, h, field, kind, m)
		return
	}
	// A non-root caller owns its own id and its subordinate ranges, and only
	// newuidmap/newgidmap may write anything beyond the single own id.
	owned := []IDRange{{Start: uint32(own), Size: 1}}
	name := h.userName(h.euid) // both files are keyed by user name or uid
	sub, err := lookupSubIDs(h, name, h.euid, file)
	if err != nil {
		errs.addErr(field, "", "cannot read the subordinate ids the caller owns", err)
		return
	}
	owned = append(owned, sub...)
	for i, e := range m {
		if e.Size == 0 || uint64(e.HostID)+uint64(e.Size) > 1<<32 {
			continue
		}
		if !covers(owned, uint64(e.HostID), uint64(e.Size)) {
			who := strconv.Itoa(h.euid)
			if name != "" {
				who = name + " (" + who + ")"
			}
			errs.add(fmt.Sprintf("%s[%d]", field, i), "", fmt.Sprintf(
				"host %ss %s are not the caller's: a non-root caller may map its own %s %d and the ranges %s lists for user %s (%s); new%smap writes those",
				kind, span(uint64(e.HostID), uint64(e.Size)), kind, own, file, who, rangesString(sub), kind))
		}
	}
}

func lookupSubIDs(h *host, user string, uid int, file string) ([]IDRange, error) {
	b, err := h.readFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := ParseSubIDs(bytes.NewReader(b), user, uid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return r, nil
}

func rangesString(rs []IDRange) string {
	if len(rs) == 0 {
		return "none"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

func overlap(a, an, b, bn uint64) bool {
	return a < b+bn && b < a+an
}
