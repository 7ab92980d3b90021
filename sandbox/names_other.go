//go:build !linux

package sandbox

import "github.com/nsfork/nsfork/internal/lookup"

// rlimitResources is empty off Linux: nsfork applies no rlimits there.
var rlimitResources lookup.Table[string, int]
