package sandbox

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPresetsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    *Options
		h    *host
	}{
		{"Root as root", Root(), rootHost},
		{"HostRoot as root", HostRoot(), rootHost},
		{"Rootless as root", rootless(0, 0, true), rootHost},
		{"Rootless as uid 1000", rootless(1000, 1000, false), rootlessHost},
		{"Rootless as uid 1000 without maps", rootless(1000, 1000, false), rootlessHost},
		{"Rootless as uid 1000 with subordinate ids", func() *Options {
			o := rootless(1000, 1000, false)
			o.UIDMappings = idmap(0, 1000, 1, 1, 100000, 65536)
			o.GIDMappings = idmap(0, 1000, 1, 1, 100000, 65536)
			o.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5}}
			return o
		}(), rootlessHost},
		{"zero Options as uid 1000", &Options{}, rootlessHost},
		{"zero Options as root", &Options{}, rootHost},
		{"own ids without user namespace as uid 1000", &Options{User: specs.User{UID: 1000, GID: 1000}}, rootlessHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Rootless as uid 1000 without maps" {
				tc.o.UIDMappings, tc.o.GIDMappings = nil, nil
			}
			if err := tc.o.validate(tc.h); err != nil {
				t.Fatal(err)
			}
		})
	}
	// And the live ones, for whoever runs the test.
	for _, o := range []*Options{Default(), Rootless()} {
		if err := o.Validate(); err != nil {
			t.Errorf("live preset: %v", err)
		}
	}
	if err := (*Options)(nil).Validate(); err != nil {
		t.Errorf("nil Options: %v", err)
	}
}

// rootBase is the base of the root-caller cases: HostRoot's namespaces
// (no user namespace), no seccomp profile and one rlimit, so that the
// cases can name the fields they add by index.
func rootBase() *Options {
	o := HostRoot()
	o.Seccomp = nil
	o.Rlimits = o.Rlimits[:1]
	return o
}

func TestValidateErrors(t *testing.T) {
	tree := testTree(t)
	type c struct {
		name        string
		rootless    bool // start from rootless(1000, 1000, false) on rootlessHost, else rootBase() on rootHost
		mod         func(o *Options)
		field       string // must appear in the error, with "sandbox: " before it
		also        string // must appear in the message too
		unsupported bool
	}
	cases := []c{
		// namespaces
		{name: "unknown namespace", field: "namespaces[5].type", also: `"net"`, mod: func(o *Options) {
			o.Namespaces = append(o.Namespaces, specs.LinuxNamespace{Type: "net"})
		}},
		{name: "duplicate namespace", field: "namespaces[5].type", also: "duplicate of namespaces[0]", mod: func(o *Options) {
			o.Namespaces = append(o.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}},
		{name: "relative namespace path", field: "namespaces[0].path", also: "absolute", mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "proc/self/ns/net"}}
		}},
		{name: "missing namespace path", field: "namespaces[0].path", also: "no such file", mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/nonexistent/ns/net"}}
		}},
		{name: "namespace path not nsfs", field: "namespaces[0].path", also: "nsfs", mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.UTSNamespace, Path: filepath.Join(tree, "file")}}
		}},
		{name: "namespace path of another type", field: "namespaces[0].path", also: "is a uts namespace, not a network namespace", mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/self/ns/uts"}}
		}},
		{name: "join mount", field: "namespaces[0].path", also: "single-threaded", unsupported: true, mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: "/proc/self/ns/mnt"}}
		}},
		{name: "join user", field: "namespaces[0].path", also: "single-threaded", unsupported: true, mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.UserNamespace, Path: "/proc/self/ns/user"}}
		}},
		{name: "join pid", field: "namespaces[0].path", also: "children", unsupported: true, mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace, Path: "/proc/self/ns/pid"}}
		}},
		{name: "join time", field: "namespaces[0].path", also: "EUSERS", unsupported: true, mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.TimeNamespace, Path: "/proc/self/ns/time"}}
		}},
		{name: "join with new user namespace", field: "namespaces", also: "new user namespace", unsupported: true, mod: func(o *Options) {
			o.Namespaces = []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"}}
		}},
		{name: "namespaces without user namespace as non-root", rootless: true, field: "namespaces", also: "CAP_SYS_ADMIN", mod: func(o *Options) {
			o.WithoutNamespaces(specs.UserNamespace)
			o.UIDMappings, o.GIDMappings = nil, nil
		}},
		// id maps
		{name: "uid map without user namespace", field: "uidMappings", also: "without a new user namespace", mod: func(o *Options) {
			o.UIDMappings = idmap(0, 0, 1)
		}},
		{name: "gid map without user namespace", field: "gidMappings", also: "without a new user namespace", mod: func(o *Options) {
			o.GIDMappings = idmap(0, 0, 1)
		}},
		{name: "zero size", field: "uidMappings[0]", also: "size is 0", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			o.UIDMappings = idmap(0, 0, 0)
		}},
		{name: "container overflow", field: "gidMappings[1]", also: "container range", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			o.GIDMappings = idmap(0, 0, 1, 1<<32-10, 100, 11)
		}},
		{name: "host overflow", field: "uidMappings[0]", also: "host range", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			o.UIDMappings = idmap(0, 1<<32-10, 11)
		}},
		{name: "container ranges overlap", field: "uidMappings[1]", also: "ranges overlap with uidMappings[0] (container 0-65535)", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			o.UIDMappings = idmap(0, 100000, 65536, 65535, 300000, 10)
		}},
		{name: "host ranges overlap", field: "gidMappings[1]", also: "(host 100000-165535)", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			o.GIDMappings = idmap(0, 100000, 65536, 70000, 165535, 10)
		}},
		{name: "too many lines", field: "uidMappings", also: "341 lines", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			for i := range uint32(341) {
				o.UIDMappings = append(o.UIDMappings, specs.LinuxIDMapping{ContainerID: i, HostID: i, Size: 1})
			}
		}},
		{name: "user not mapped", rootless: true, field: "user.uid", also: "not mapped", mod: func(o *Options) {
			o.User.UID = 1
		}},
		{name: "group not mapped", rootless: true, field: "user.gid", also: "not mapped", mod: func(o *Options) {
			o.User.GID = 7
		}},
		{name: "additional gid not mapped", field: "user.additionalGids[1]", also: "not mapped", mod: func(o *Options) {
			o.WithNamespaces(specs.UserNamespace)
			o.GIDMappings = idmap(0, 100000, 10)
			o.User.AdditionalGids = []uint32{1, 10}
		}},
		{name: "uid range not owned", rootless: true, field: "uidMappings[1]", also: "newuidmap", mod: func(o *Options) {
			o.UIDMappings = idmap(0, 1000, 1, 1, 200000, 65536)
		}},
		{name: "uid range partly owned", rootless: true, field: "uidMappings[1]", also: "/etc/subuid lists for user alice (1000) (100000-165535)", mod: func(o *Options) {
			o.UIDMappings = idmap(0, 1000, 1, 1, 100000, 65537)
		}},
		{name: "gid range not owned", rootless: true, field: "gidMappings[0]", also: "newgidmap", mod: func(o *Options) {
			o.GIDMappings = idmap(0, 1001, 1)
		}},
		{name: "additional gids need setgroups", rootless: true, field: "user.additionalGids", also: "setgroups", mod: func(o *Options) {
			o.User.AdditionalGids = []uint32{0}
		}},
		{name: "other ids without user namespace as non-root", rootless: true, field: "user", also: "cannot change its ids", mod: func(o *Options) {
			*o = Options{User: specs.User{UID: 1000, GID: 5}}
		}},
		{name: "windows user name", field: "user.username", also: "Windows", unsupported: true, mod: func(o *Options) {
			o.User.Username = "alice"
		}},
		{name: "umask", field: "user.umask", also: "0777", mod: func(o *Options) {
			u := uint32(0o1777)
			o.User.Umask = &u
		}},
		// rlimits
		{name: "unknown rlimit", field: "rlimits[1].type", also: "RLIMIT_NOFILE", mod: func(o *Options) {
			o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_FILES"})
		}},
		{name: "rlimit spelling", field: "rlimits[1].type", also: `did you mean "RLIMIT_NOFILE"`, mod: func(o *Options) {
			o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: "nofile"})
		}},
		{name: "soft above hard", field: "rlimits[1]", also: "soft limit 10 is above hard limit 5", mod: func(o *Options) {
			o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5})
		}},
		{name: "duplicate rlimit", field: "rlimits[1].type", also: "duplicate of rlimits[0]", mod: func(o *Options) {
			o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_CORE"})
		}},
		// capabilities
		{name: "unknown capability", field: "capabilities.bounding[0]", also: "CAP_SYS_FOO", mod: func(o *Options) {
			o.Capabilities.Bounding = []string{"CAP_SYS_FOO"}
		}},
		{name: "capability spelling", field: "capabilities.permitted[0]", also: `did you mean "CAP_NET_ADMIN"`, mod: func(o *Options) {
			o.Capabilities.Permitted = []string{"net_admin"}
		}},
		{name: "capability spelling inheritable", field: "capabilities.inheritable[0]", also: `did you mean "CAP_NET_RAW"`, mod: func(o *Options) {
			o.Capabilities.Inheritable = []string{"cap_net_raw"}
		}},
		{name: "ambient not inheritable", field: "capabilities.ambient[0]", also: "permitted ∩ inheritable", mod: func(o *Options) {
			o.Capabilities = &specs.LinuxCapabilities{Permitted: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}}
		}},
		{name: "effective not permitted", field: "capabilities.effective[0]", also: "effective ⊆ permitted", mod: func(o *Options) {
			o.Capabilities = &specs.LinuxCapabilities{Effective: []string{"CAP_KILL"}}
		}},
		// uts and time
		{name: "hostname without uts", field: "hostname", also: "uts", mod: func(o *Options) {
			o.WithoutNamespaces(specs.UTSNamespace)
			o.Hostname = "box"
		}},
		{name: "domainname without uts", field: "domainname", also: "uts", mod: func(o *Options) {
			o.WithoutNamespaces(specs.UTSNamespace)
			o.Domainname = "example.org"
		}},
		{name: "hostname too long", field: "hostname", also: "64", mod: func(o *Options) {
			o.Hostname = strings.Repeat("h", 65)
		}},
		{name: "time offsets without time namespace", field: "timeOffsets", also: "time namespace", mod: func(o *Options) {
			o.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}},
		{name: "time offsets of another clock", field: "timeOffsets.realtime", also: "monotonic and boottime", mod: func(o *Options) {
			o.WithNamespaces(specs.TimeNamespace)
			o.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 10}}
		}},
		{name: "time offset nanoseconds", field: "timeOffsets.boottime.nanosecs", also: "1000000000", mod: func(o *Options) {
			o.WithNamespaces(specs.TimeNamespace)
			o.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}
		}},
		// root
		{name: "relative root", field: "root.path", also: "absolute", mod: func(o *Options) {
			o.Root = &specs.Root{Path: "rootfs"}
		}},
		{name: "missing root", field: "root.path", also: "no such file", mod: func(o *Options) {
			o.Root = &specs.Root{Path: filepath.Join(tree, "missing")}
		}},
		{name: "root is a file", field: "root.path", also: "is not a directory", mod: func(o *Options) {
			o.Root = &specs.Root{Path: filepath.Join(tree, "file")}
		}},
		{name: "root is a symlink to a file", field: "root.path", also: "resolves to " + filepath.Join(tree, "file") + ", which is not a directory", mod: func(o *Options) {
			o.Root = &specs.Root{Path: filepath.Join(tree, "link-to-file")}
		}},
		{name: "root without mount namespace", field: "root", also: "mount namespace", mod: func(o *Options) {
			o.WithoutNamespaces(specs.MountNamespace)
			o.Root = &specs.Root{Path: filepath.Join(tree, "rootfs")}
		}},
		// mounts
		{name: "mounts without mount namespace", field: "mounts", also: "mount namespace", mod: func(o *Options) {
			o.WithoutNamespaces(specs.MountNamespace)
			o.Mounts = []specs.Mount{{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"}}
		}},
		{name: "relative destination", field: "mounts[0].destination", also: "absolute", mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "tmp", Type: "tmpfs"}}
		}},
		{name: "unknown mount type", field: "mounts[0].type", also: "unknown mount type", mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "ext4", Source: "/dev/sda1"}}
		}},
		{name: "empty mount type", field: "mounts[0].type", also: "no bind or rbind", mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Source: "/"}}
		}},
		{name: "bind option on tmpfs", field: "mounts[0].type", also: "bind or none", mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "tmpfs", Source: "/", Options: []string{"rbind"}}}
		}},
		{name: "missing bind source", field: "mounts[0].source", also: filepath.Join(tree, "nope"), mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "bind", Source: filepath.Join(tree, "nope")}}
		}},
		{name: "relative bind source", field: "mounts[0].source", also: "absolute", mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "none", Source: "data", Options: []string{"rbind"}}}
		}},
		{name: "bind without source", field: "mounts[0].source", also: "needs a source", mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "bind"}}
		}},
		{name: "mount's own id mappings", field: "mounts[0].uidMappings", also: "own id mappings", unsupported: true, mod: func(o *Options) {
			o.Mounts = []specs.Mount{{Destination: "/mnt", Type: "bind", Source: "/", UIDMappings: idmap(0, 0, 1)}}
		}},
		{name: "proc in user namespace without pid namespace", rootless: true, field: "mounts[0].type", also: "pid namespace", mod: func(o *Options) {
			o.WithoutNamespaces(specs.PIDNamespace)
			o.Mounts = []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}
		}},
		{name: "sysfs in user namespace without network namespace", rootless: true, field: "mounts[0].type", also: "network namespace", mod: func(o *Options) {
			o.WithoutNamespaces(specs.NetworkNamespace)
			o.Mounts = []specs.Mount{{Destination: "/sys", Type: "sysfs", Source: "sysfs"}}
		}},
		{name: "mqueue in user namespace without ipc namespace", rootless: true, field: "mounts[0].type", also: "ipc namespace", mod: func(o *Options) {
			o.WithoutNamespaces(specs.IPCNamespace)
			o.Mounts = []specs.Mount{{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"}}
		}},
		{name: "relative masked path", field: "maskedPaths[0]", also: "absolute", mod: func(o *Options) {
			o.MaskedPaths = []string{"proc/kcore"}
		}},
		{name: "read-only paths without mount namespace", field: "readonlyPaths", also: "mount namespace", mod: func(o *Options) {
			o.WithoutNamespaces(specs.MountNamespace)
			o.ReadonlyPaths = []string{"/proc/sys"}
		}},
		{name: "unknown propagation", field: "rootfsPropagation", also: "rslave", mod: func(o *Options) {
			o.RootfsPropagation = "slaved"
		}},
		// process
		{name: "env without =", field: "env[1]", also: "KEY=VALUE", mod: func(o *Options) {
			o.Env = []string{"A=1", "B"}
		}},
		{name: "env with NUL", field: "env[0]", also: "NUL", mod: func(o *Options) {
			o.Env = []string{"A=1\x002"}
		}},
		{name: "env with empty key", field: "env[0]", also: "empty key", mod: func(o *Options) {
			o.Env = []string{"=1"}
		}},
		{name: "relative cwd", field: "cwd", also: "absolute", mod: func(o *Options) {
			o.Cwd = "work"
		}},
		{name: "oom score", field: "oomScoreAdj", also: "-1000 and 1000", mod: func(o *Options) {
			v := 1001
			o.OOMScoreAdj = &v
		}},
		{name: "relative landlock read-only path", field: "landlock.readOnly[0]", also: "absolute", mod: func(o *Options) {
			o.Landlock = &Landlock{ReadOnly: []string{"usr"}}
		}},
		{name: "relative landlock read-write path", field: "landlock.readWrite[1]", also: "absolute", mod: func(o *Options) {
			o.Landlock = &Landlock{ReadWrite: []string{"/tmp", ""}}
		}},
		// seccomp outline
		{name: "seccomp without default action", field: "seccomp.defaultAction", also: "empty", mod: func(o *Options) {
			o.Seccomp = &specs.LinuxSeccomp{}
		}},
		{name: "seccomp rule without names", field: "seccomp.syscalls[0].names", also: "empty", mod: func(o *Options) {
			o.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}}
		}},
		{name: "seccomp empty name", field: "seccomp.syscalls[0].names[1]", also: "empty", mod: func(o *Options) {
			o.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"ptrace", ""}, Action: specs.ActErrno}}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, h := rootBase(), rootHost
			if tc.rootless {
				o, h = rootless(1000, 1000, false), rootlessHost
			}
			if err := o.validate(h); err != nil {
				t.Fatalf("base options do not validate: %v", err)
			}
			tc.mod(o)
			err := o.validate(h)
			if err == nil {
				t.Fatal("Validate accepted bad options")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is no *Error", err)
			}
			msg := err.Error()
			if !contains(msg, "sandbox: "+tc.field+" ") && !contains(msg, "sandbox: "+tc.field+":") {
				t.Errorf("error does not name %s: %v", tc.field, msg)
			}
			if !contains(msg, tc.also) {
				t.Errorf("error does not say %q: %v", tc.also, msg)
			}
			if got := errors.Is(err, errors.ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, errors.ErrUnsupported) = %v: %v", got, msg)
			}
			if !tc.unsupported && !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false: %v", msg)
			}
		})
	}
}

func TestValidateJoinsAllErrors(t *testing.T) {
	o := rootBase()
	o.Cwd = "rel"
	o.Env = []string{"X"}
	err := o.validate(rootHost)
	if err == nil || !contains(err.Error(), "sandbox: cwd") || !contains(err.Error(), "sandbox: env[0]") {
		t.Fatalf("want both errors, got %v", err)
	}
}

func TestValidateAcceptsGoodInput(t *testing.T) {
	tree := testTree(t)
	o := rootBase().WithNamespaces(specs.CgroupNamespace, specs.TimeNamespace)
	o.Namespaces = append(o.Namespaces[:0:0], o.Namespaces...)
	o.WithoutNamespaces(specs.NetworkNamespace)
	o.Namespaces = append(o.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"})
	o.Hostname, o.Domainname = "box", "example.org"
	o.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: -5}, "boottime": {Secs: 100, Nanosecs: 999999999}}
	o.Root = &specs.Root{Path: filepath.Join(tree, "link-to-rootfs"), Readonly: true}
	o.Mounts = []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/data", Source: tree, Options: []string{"rbind", "ro"}},
		{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(tree, "file")},
		{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup"},
		{Destination: "/merged", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a,upperdir=/b,workdir=/c"}},
	}
	o.MaskedPaths, o.ReadonlyPaths, o.RootfsPropagation = []string{"/proc/kcore"}, []string{"/proc/sys"}, "rslave"
	o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096})
	o.Capabilities = &specs.LinuxCapabilities{
		Bounding: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"}, Permitted: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE"}, Effective: []string{"CAP_KILL"}, Ambient: []string{"CAP_NET_BIND_SERVICE"},
	}
	o.Env, o.Cwd = []string{"A=1", "B="}, "/work"
	o.Landlock = &Landlock{ReadOnly: []string{"/usr"}, ReadWrite: []string{"/tmp"}}
	o.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}}
	adj := -500
	o.OOMScoreAdj = &adj
	if err := o.validate(rootHost); err != nil {
		t.Fatal(err)
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Field: "uidMappings[1]", Reason: "ranges overlap with uidMappings[0] (container 0-65535)"}
	if got, want := e.Error(), "sandbox: uidMappings[1]: ranges overlap with uidMappings[0] (container 0-65535)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e = &Error{Field: "process.apparmorProfile", Value: "x", Reason: "is set", Err: errors.ErrUnsupported}
	if got, want := e.Error(), `sandbox: process.apparmorProfile "x": is set: unsupported operation`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if errors.Is(e, ErrInvalid) || !errors.Is(e, errors.ErrUnsupported) {
		t.Error("unsupported error matches ErrInvalid or not ErrUnsupported")
	}
}
