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
	var out []IDRange
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("line %q: want 3 fields", l)
		}
		start, err1 := strconv.ParseUint(f[0], 10, 32)
		size, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %q: not numbers", l)
		}
		out = append(out, IDRange{Start: uint32(start), Size: uint32(size)})
	}
	return out, nil
}
