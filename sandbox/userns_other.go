//go:build !linux

package sandbox

import "os"

// Without user namespaces, root is host root.
func rootInInitialUserNS() bool { return os.Geteuid() == 0 }

// Without user namespaces there is one.
func userNSTag() string { return "" }
