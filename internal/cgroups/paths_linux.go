package cgroups

import (
	"errors"
	"slices"
	"sort"
)

// dirsOf lists the distinct directories of paths (as Cgroup.Paths returns
// them), the cgroup version they are of, and the directory to freeze.
func dirsOf(paths map[string]string) ([]string, int, string) {
	ver, freezer := 1, paths["freezer"]
	if u, ok := paths["unified"]; ok {
		ver, freezer = 2, u
	}
	var dirs []string
	for _, d := range paths {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs, ver, freezer
}

// PathPids lists the processes in the cgroup directories of paths and in
// the cgroups below them.
func PathPids(paths map[string]string) []int {
	dirs, _, _ := dirsOf(paths)
	return unionPids(dirs)
}

// RemovePaths kills every process left in the cgroup directories of paths
// and removes the directories, deepest first: the cleanup of a cgroup
// whose Cgroup value is gone with the process that made it (an OCI
// runtime's delete, after its monitor was killed). Directories that are
// gone already are no error.
func RemovePaths(paths map[string]string) error {
	dirs, ver, freezer := dirsOf(paths)
	if err := killAll(ver, dirs, freezer, destroyTimeout); err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
