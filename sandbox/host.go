package sandbox

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/passwd"
)

// host is everything Validate reads from the running system, behind small
// functions so that tests can stand in for it. None of them changes anything.
type host struct {
	euid, egid int
	// groups: the caller's supplementary groups (getgroups).
	groups []int
	// hostRoot: root in the initial user namespace (RootInInitialUserNS).
	// Root of another user namespace is rootless here (nsRoot).
	hostRoot bool
	// rootIDs: host root's ids in the caller's user namespace
	// (HostRootIDs).
	rootIDs RootIDs
	// userName returns the name of uid, or "" when it has none.
	userName func(uid int) string
	// readFile reads /etc/subuid, /etc/subgid and /proc/self/status.
	readFile func(name string) ([]byte, error)
	// stat follows symbolic links, like os.Stat.
	stat         func(name string) (fs.FileInfo, error)
	evalSymlinks func(name string) (string, error)
	// nsType returns the type of the namespace file at path, "" when the
	// kernel cannot tell, or an error when path is no namespace file.
	nsType func(path string) (specs.LinuxNamespaceType, error)
	// ownNS reports whether the namespace file at path is the caller's
	// own namespace of type t.
	ownNS func(path string, t specs.LinuxNamespaceType) (bool, error)
}

// liveHost returns the host the calling process runs on.
func liveHost() *host {
	return &host{
		euid:         os.Geteuid(),
		egid:         os.Getegid(),
		groups:       supplementaryGroups(),
		hostRoot:     RootInInitialUserNS(),
		rootIDs:      HostRootIDs(),
		userName:     passwd.Name,
		readFile:     os.ReadFile,
		stat:         os.Stat,
		evalSymlinks: filepath.EvalSymlinks,
		nsType:       nsType,
		ownNS:        ownNS,
	}
}

// rootless reports whether the caller is not host root, the test Validate
// uses for id map ownership and id leases.
func (h *host) rootless() bool { return !h.hostRoot }

// nsRoot reports whether the caller is root of a user namespace other than
// the initial one: rootless, but with every capability over its own
// namespace, so it writes a new namespace's id maps itself, from the ids
// its own namespace maps (not /etc/subuid, not newuidmap).
func (h *host) nsRoot() bool { return h.euid == 0 && !h.hostRoot }

// capSysAdmin is CAP_SYS_ADMIN's bit number.
const capSysAdmin = 21

// privileged reports whether the caller may create namespaces other than a
// user namespace: it is root or holds CAP_SYS_ADMIN in its effective set.
func (h *host) privileged() bool {
	if h.euid == 0 {
		return true
	}
	b, err := h.readFile("/proc/self/status")
	if err != nil {
		return false
	}
	return hasEffectiveCap(b, capSysAdmin)
}

// holdsCap reports whether the caller is root or holds capability bit in
// its effective or permitted set (which it may raise to effective).
func (h *host) holdsCap(bit uint) bool {
	if h.euid == 0 {
		return true
	}
	b, err := h.readFile("/proc/self/status")
	return err == nil && (hasCap(b, "CapEff:", bit) || hasCap(b, "CapPrm:", bit))
}

// hasEffectiveCap reads the CapEff line of a /proc/PID/status file.
func hasEffectiveCap(status []byte, bit uint) bool { return hasCap(status, "CapEff:", bit) }

// hasCap reads the line of a /proc/PID/status file that starts with field
// (CapEff:, CapPrm:).
func hasCap(status []byte, field string, bit uint) bool {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		return err == nil && n&(1<<bit) != 0
	}
	return false
}

// supplementaryGroups is getgroups(2); nil where it fails.
func supplementaryGroups() []int {
	g, err := os.Getgroups()
	if err != nil {
		return nil
	}
	return g
}
