package fork

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/nsinit"
	"github.com/nsfork/nsfork/sandbox"
)

// setRlimits is the parent's half of the rlimits (the child's is
// nsinit/rlimit_linux.go): it sets them on the started child with prlimit
// before the request is sent, which can raise a hard limit the child
// itself could no longer raise once its ids changed. In command mode the
// deferred ones (nsinit.DeferredRlimit: RLIMIT_AS) are the command's: only
// a hard limit above the child's is raised here (keeping its soft one),
// and the child sets the rest just before the command starts.
func setRlimits(pid int, rlimits []specs.POSIXRlimit, command bool) error {
	for _, r := range rlimits {
		res, _ := sandbox.RlimitResource(r.Type)
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if command && nsinit.DeferredRlimit(res) {
			var cur unix.Rlimit
			if err := unix.Prlimit(pid, res, nil, &cur); err != nil {
				return sandbox.NewSetupError("rlimit", "prlimit "+r.Type+" (read)", "", err)
			}
			if r.Hard <= cur.Max {
				continue
			}
			lim = unix.Rlimit{Cur: cur.Cur, Max: r.Hard}
		}
		if err := unix.Prlimit(pid, res, &lim, nil); err != nil {
			return sandbox.NewSetupError("rlimit", fmt.Sprintf("prlimit %s soft=%d hard=%d", r.Type, r.Soft, r.Hard), "", err)
		}
	}
	return nil
}
