//go:build !linux

package sandbox

// Without user namespaces, host root's ids are 0.
func hostRootIDs() RootIDs {
	zero := uint32(0)
	return RootIDs{UID: &zero, GID: &zero, From: "no user namespaces"}
}
