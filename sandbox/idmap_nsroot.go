package sandbox

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// validateNSRootMap checks a map given by root of a user namespace other
// than the initial one (host.nsRoot): the kernel lets it map, into a new
// namespace it makes, any id its own namespace maps, which its own
// /proc/self/uid_map or gid_map lists (first column, inside ids). kind is
// "uid" or "gid".
func validateNSRootMap(errs *errList, h *host, field, kind string, m []specs.LinuxIDMapping) {
	file := "/proc/self/" + kind + "_map"
	b, err := h.readFile(file)
	if err != nil {
		errs.addErr(field, "", "cannot read the ids the caller's user namespace maps", err)
		return
	}
	owned, err := parseProcIDMap(b)
	if err != nil {
		errs.addErr(field, file, "cannot read the ids the caller's user namespace maps", err)
		return
	}
	for i, e := range m {
		if e.Size == 0 || uint64(e.HostID)+uint64(e.Size) > 1<<32 {
			continue
		}
		if !covers(owned, uint64(e.HostID), uint64(e.Size)) {
			errs.add(fmt.Sprintf("%s[%d]", field, i), "", fmt.Sprintf(
				"%ss %s are not mapped in the caller's own user namespace (%s maps %s): root of a user namespace other than the initial one may map only those",
				kind, span(uint64(e.HostID), uint64(e.Size)), file, rangesString(owned)))
		}
	}
}

// parseProcIDMap returns the inside ranges of a /proc/PID/uid_map or
// gid_map: the ids that namespace has.
func parseProcIDMap(b []byte) ([]IDRange, error) {
	lines, err := parseProcIDMapLines(b)
	out := make([]IDRange, len(lines))
	for i, l := range lines {
		out[i] = IDRange{Start: l.ContainerID, Size: l.Size}
	}
	return out, err
}

// parseProcIDMapLines parses a /proc/PID/uid_map or gid_map: ContainerID
// is the first column (ids of that namespace), HostID the second (ids of
// the namespace reading the file).
func parseProcIDMapLines(b []byte) ([]specs.LinuxIDMapping, error) {
	var out []specs.LinuxIDMapping
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("line %q: want 3 fields", l)
		}
		var n [3]uint64
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("line %q: not numbers", l)
			}
			n[i] = v
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: uint32(n[0]), HostID: uint32(n[1]), Size: uint32(n[2])})
	}
	return out, nil
}
