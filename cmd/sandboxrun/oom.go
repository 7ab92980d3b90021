package main

import (
	"errors"

	"github.com/nsfork/nsfork/fork"
)

// oomOutcome: a command the OOM killer killed exits as the kill made it
// (137, 128+SIGKILL), with one line that says so, e.g. "killed by the OOM
// killer: memory limit 32 MiB reached (peak 32 MiB)".
func oomOutcome(err error) (code int, msg string, ok bool) {
	var oe *fork.OOMError
	if !errors.As(err, &oe) {
		return 0, "", false
	}
	code = oe.ExitCode()
	if sig := oe.Signal(); sig != 0 {
		code = 128 + int(sig)
	}
	return code, message(err), true
}
