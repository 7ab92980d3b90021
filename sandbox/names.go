package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
)

// rlimitNames are the OCI process.rlimits types, in the order the
// runtime-spec lists them.
var rlimitNames = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
	"RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
	"RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
	"RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

// RlimitResource returns the resource number (a golang.org/x/sys/unix
// RLIMIT_* constant) for an OCI rlimit type such as "RLIMIT_NOFILE", and
// false for a name it does not know or on a system without that limit.
func RlimitResource(name string) (int, bool) {
	r, ok := rlimitResources.Get(name)
	return r, ok
}

// capsByName maps "CAP_SYS_ADMIN" style names to capabilities, built on
// first use (about 100 allocations every program linking this package
// would otherwise pay at start-up).
var capsByName = sync.OnceValue(func() map[string]capability.Cap {
	m := make(map[string]capability.Cap)
	for _, c := range capability.ListKnown() {
		m[capName(c)] = c
	}
	return m
})

// capName returns the OCI name of c, such as "CAP_SYS_ADMIN".
func capName(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}

// CapabilityValue returns the capability an OCI capability name stands for.
// Names are exact, as the runtime-spec writes them: upper case with the CAP_
// prefix ("CAP_NET_ADMIN"). For a name that is only spelled differently
// ("net_admin", "cap_net_admin") the error suggests the right one.
func CapabilityValue(name string) (capability.Cap, error) {
	if c, ok := capsByName()[name]; ok {
		return c, nil
	}
	up := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(up, "CAP_") {
		up = "CAP_" + up
	}
	if _, ok := capsByName()[up]; ok {
		return 0, fmt.Errorf("unknown capability %q (did you mean %q? names are upper case with the CAP_ prefix)", name, up)
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// CapabilityNames returns every capability name CapabilityValue accepts,
// sorted.
func CapabilityNames() []string {
	names := make([]string, 0, len(capsByName()))
	for n := range capsByName() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
