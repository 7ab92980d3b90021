package cgroups

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultDevices are the device rules every sandbox with a device list
// gets, as runc and crun give them: the character devices of the minimal
// /dev (null, zero, full, random, urandom, tty), the ptmx and the
// pseudo-terminals of /dev/pts, each read, write and mknod.
//
// runc's own list also allows mknod of every character and block device
// and /dev/net/tun; nsfork leaves those out: the minimal /dev has neither,
// a sandbox that needs one lists it, and mknod of any block device is the
// part of runc's list its own maintainers call questionable.
func defaultDevices() []specs.LinuxDeviceCgroup {
	c := func(major, minor int64) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Access: "rwm"}
		if minor >= 0 {
			d.Minor = &minor
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9), c(5, 0), // null zero full random urandom tty
		c(5, 2), c(136, -1), // ptmx, /dev/pts/*
	}
}

// withDefaultDevices returns r with the default device rules added to a
// non-empty device list: after the list's leading deny-all rules (`runc
// spec` starts with one) and before the rest, so that the deny-all does
// not wipe them and the config's own later rules can still deny one of
// them. A list that is empty is left alone: the device controller is not
// used at all. r itself is not changed.
func withDefaultDevices(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	lead := 0
	for lead < len(r.Devices) && denyAll(r.Devices[lead]) {
		lead++
	}
	devs := make([]specs.LinuxDeviceCgroup, 0, len(r.Devices)+8)
	devs = append(devs, r.Devices[:lead]...)
	devs = append(devs, defaultDevices()...)
	devs = append(devs, r.Devices[lead:]...)
	cp := *r
	cp.Devices = devs
	return &cp
}

// denyAll reports whether d denies every access to every device.
func denyAll(d specs.LinuxDeviceCgroup) bool {
	all := d.Access == "" || strings.ContainsRune(d.Access, 'r') && strings.ContainsRune(d.Access, 'w') && strings.ContainsRune(d.Access, 'm')
	return !d.Allow && (d.Type == "" || d.Type == "a") && d.Major == nil && d.Minor == nil && all
}
