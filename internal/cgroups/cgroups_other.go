//go:build !linux

package cgroups

import (
	"errors"
	"time"
)

type sysCgroup struct{}

func geteuid() int { return -1 }

type host struct{}

func discoverHost() (*host, error) { return nil, errors.ErrUnsupported }

func newCgroup(*host, Config) (*Cgroup, error)             { return nil, errors.ErrUnsupported }
func cleanup(*host, time.Duration, bool) ([]string, error) { return nil, errors.ErrUnsupported }
func probe(*host) Report                                   { return Report{} }
func (*sysCgroup) version() int                            { return 0 }
func (*sysCgroup) fd() (int, bool)                         { return -1, false }
func (*sysCgroup) add(int) error                           { return errors.ErrUnsupported }
func (*sysCgroup) paths() map[string]string                { return nil }
func (*sysCgroup) stats() (*Stats, error)                  { return nil, errors.ErrUnsupported }
func (*sysCgroup) destroy() error                          { return nil }
