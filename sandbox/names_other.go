//go:build !linux

package sandbox

// rlimitResources is empty off Linux: nsfork applies no rlimits there.
var rlimitResources = map[string]int{}
