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

func geteuid() int { return -1 }

type host struct{}

func discoverHost() (*host, error) { return nil, errors.ErrUnsupported }

func newCgroup(*host, Config) (*Cgroup, error)             { return nil, errors.ErrUnsupported }
func cleanup(*host, time.Duration, bool) ([]string, error) { return nil, errors.ErrUnsupported }
func probe(*host) Report                                   { return Report{} }
