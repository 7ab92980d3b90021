//go:build !linux

package cgroups

import (
	"errors"
	"time"
)

type sysCgroup interface {
	version() int
	fd() (int, bool)
	add(pid int) error
	paths() map[string]string
	stats() (*Stats, error)
	destroy() error
}

func rootlessCaller() bool { return true }

type host struct{}

func discoverHost() (*host, error) { return nil, errors.ErrUnsupported }

func newCgroup(*host, Config) (*Cgroup, error)             { return nil, errors.ErrUnsupported }
func cleanup(*host, time.Duration, bool) ([]string, error) { return nil, errors.ErrUnsupported }
func probe(*host) Report                                   { return Report{} }

// PathPids lists the processes of cgroup directories (Linux only).
func PathPids(map[string]string) []int { return nil }

// RemovePaths removes cgroup directories (Linux only).
func RemovePaths(map[string]string) error { return errors.ErrUnsupported }
