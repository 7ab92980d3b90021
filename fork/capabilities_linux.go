package fork

import "github.com/moby/sys/capability"

// The capabilities' parent half (the child's is
// nsinit/capabilities_linux.go and nsinit/bounding_linux.go): where the
// id maps exist only after the exec, or the child starts as a user other
// than root, every capability is carried over the exec in the ambient set
// (planIsolation), which the child clears.

// allCaps lists every capability this kernel knows.
func allCaps() []uintptr {
	var caps []uintptr
	last, _ := capability.LastCap()
	for c := capability.Cap(0); c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}
