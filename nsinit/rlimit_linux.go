package nsinit

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepRlimit: the parent set the rlimits with prlimit before the request
// was sent (fork/rlimit_linux.go: it can raise a hard limit the child
// could no longer raise). The Go runtime raised RLIMIT_NOFILE at start and
// would restore its start value in every exec'ed child; setting it again
// through syscall.Setrlimit clears that cache. Every limit is checked here
// too.
func stepRlimit(o *sandbox.Options, _ Config, a *Applied) error {
	for _, r := range o.Rlimits {
		res, ok := sandbox.RlimitResource(r.Type)
		if !ok {
			return fail("rlimit", "unknown", r.Type, unix.EINVAL)
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return fail("rlimit", "getrlimit "+r.Type, "", err)
		}
		want := syscall.Rlimit{Cur: r.Soft, Max: r.Hard}
		if cur.Cur != r.Soft || cur.Max != r.Hard || res == unix.RLIMIT_NOFILE {
			if err := syscall.Setrlimit(res, &want); err != nil {
				return fail("rlimit", "setrlimit "+r.Type, "", err)
			}
		}
		if a.Rlimits == nil {
			a.Rlimits = map[string][2]uint64{}
		}
		a.Rlimits[r.Type] = [2]uint64{r.Soft, r.Hard}
	}
	return nil
}
