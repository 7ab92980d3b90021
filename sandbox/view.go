package sandbox

import (
	"reflect"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The default view of the host's file system, which the presets give:
//
//   - the host's root, read-only and nodev on every mount below it;
//   - a new /proc of the sandbox's pid namespace, with runc's masked and
//     read-only paths (nsinit applies them to every /proc);
//   - a minimal /dev (null, zero, full, random, urandom, tty, ptmx, pts, a
//     private shm);
//   - a private tmpfs on /tmp, /var/tmp and /run;
//   - /sys and the cgroup file systems read-only, as parts of the root.
//
// Nothing of the host is writable unless given: BindRW grants a path.
// Directories the view makes private are listed in PrivateDirs.

// PrivateDirs are the directories the default view replaces with a
// private tmpfs.
var PrivateDirs = []string{"/tmp", "/var/tmp", "/run"}

// ProcMount is a new proc file system on dest.
func ProcMount(dest string) specs.Mount {
	return specs.Mount{Type: "proc", Source: "proc", Destination: dest, Options: []string{"nosuid", "noexec", "nodev"}}
}

// DevMount is a tmpfs on dest that nsinit fills with the minimal device set
// when dest is /dev.
func DevMount(dest string) specs.Mount {
	return specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: dest, Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}}
}

// TmpfsMount is a private tmpfs on dest, world-writable with the sticky
// bit for the temporary directories and 0755 otherwise.
func TmpfsMount(dest string) specs.Mount {
	mode := "mode=755"
	if dest == "/tmp" || dest == "/var/tmp" {
		mode = "mode=1777"
	}
	return specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: dest, Options: []string{"nosuid", "nodev", mode}}
}

// BindRW is a writable bind of the host's path onto the same path.
func BindRW(path string) specs.Mount {
	return specs.Mount{Type: "bind", Source: path, Destination: path, Options: []string{"rbind", "rrw", "rnosuid", "rnodev"}}
}

// HostDevices is the host's /dev bound onto /dev with its device nodes
// usable (not nodev), for sandboxes that use the host's devices (the mpi
// preset: GPUs, interconnects). Which devices open is up to their modes
// and, with resources.devices, to the devices cgroup.
func HostDevices() specs.Mount {
	return specs.Mount{Type: "bind", Source: "/dev", Destination: "/dev", Options: []string{"rbind", "rnosuid"}}
}

// BindRO is a read-only bind of the host's path onto the same path.
func BindRO(path string) specs.Mount {
	return specs.Mount{Type: "bind", Source: path, Destination: path, Options: []string{"rbind", "rro", "rnosuid", "rnodev"}}
}

// withHostView gives o the default view of the host (see above).
func withHostView(o *Options) *Options {
	o.Root = &specs.Root{Path: "/", Readonly: true}
	o.Mounts = append(o.Mounts, ProcMount("/proc"), DevMount("/dev"))
	for _, d := range PrivateDirs {
		o.Mounts = append(o.Mounts, TmpfsMount(d))
	}
	return o
}

// WithBinds appends a writable bind of each of paths onto itself, and
// returns o: the way to give a sandbox with the default view a directory
// of the host to write.
func (o *Options) WithBinds(paths ...string) *Options {
	for _, p := range paths {
		o.Mounts = append(o.Mounts, BindRW(p))
	}
	return o
}

// HostFS removes the default view from o (a preset's): the sandbox sees
// the host's file system as it is, writable wherever its ids may write,
// with a new /proc when it has a pid namespace. Mounts added after the
// preset stay. For TRUSTED CODE ONLY: as the caller's own uid (rootless)
// the sandbox can then change or delete any file of the caller's and reach
// every path socket it can (D-Bus, agents, munge).
func (o *Options) HostFS() *Options {
	if o.Root != nil && o.Root.Path == "/" {
		o.Root = nil
	}
	view := withHostView(&Options{}).Mounts
	kept := o.Mounts[:0:0]
	for _, m := range o.Mounts {
		inView := slices.ContainsFunc(view, func(v specs.Mount) bool { return reflect.DeepEqual(v, m) })
		if !inView || (m.Type == "proc" && m.Destination == "/proc" && o.NewNamespace(specs.PIDNamespace)) {
			kept = append(kept, m)
		}
	}
	o.Mounts = kept
	return o
}
