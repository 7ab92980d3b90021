package integration

// The conformance suite's bundles: runc spec's config (spec) and a few
// rich variations of it, each covering many fields at once so that the
// suite stays short. A variation that one runtime refuses is compared on
// that outcome alone, so the options a runtime refuses today have bundles
// of their own.

import (
	"fmt"
	"os"
	"testing"
)

func confBundles(mode string) []confBundle {
	bs := []confBundle{
		{"spec", func(*testing.T, string, map[string]any) {}},
		{"rich", confRich(mode)},
		{"limits", confLimits},
		{"namespaces", confNamespaces(mode)},
		{"joined", confJoined},
		{"recursive", func(_ *testing.T, _ string, spec map[string]any) {
			addMounts(spec,
				bindMount("data", "/data", "rbind", "rro", "rnosuid", "rnodev"),
				bindMount("data-rw", "/data-rw", "bind", "rnoexec"))
		}},
		{"shared", func(_ *testing.T, _ string, spec map[string]any) {
			addMounts(spec, bindMount("data", "/data", "rbind", "rshared"))
		}},
		{"tmpcopyup", func(_ *testing.T, _ string, spec map[string]any) {
			addMounts(spec, map[string]any{"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
				"options": []any{"nosuid", "nodev", "mode=755", "tmpcopyup"}})
		}},
		{"devnodes", func(_ *testing.T, _ string, spec map[string]any) {
			jsonObj(spec, "linux")["devices"] = []any{map[string]any{
				"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}}
		}},
	}
	return bs
}

func bindMount(src, dst string, opts ...string) map[string]any {
	o := make([]any, len(opts))
	for i, s := range opts {
		o[i] = s
	}
	return map[string]any{"destination": dst, "type": "bind", "source": src, "options": o}
}

func addMounts(spec map[string]any, ms ...map[string]any) {
	for _, m := range ms {
		spec["mounts"] = append(spec["mounts"].([]any), m)
	}
}

func strs(ss ...string) []any {
	o := make([]any, len(ss))
	for i, s := range ss {
		o[i] = s
	}
	return o
}

// confRich: ids and groups, capability sets with ambient ones, rlimits,
// no_new_privs off, umask, oom_score_adj, env, cwd, hostname and
// domainname, custom masked and read-only paths, tmpfs and bind mounts
// with options, and a seccomp profile returning errnos.
func confRich(mode string) func(*testing.T, string, map[string]any) {
	return func(_ *testing.T, _ string, spec map[string]any) {
		p := jsonObj(spec, "process")
		if mode == "root" {
			p["user"] = map[string]any{"uid": 1000, "gid": 1000, "additionalGids": []any{1001, 2000}, "umask": 0o027}
		} else {
			p["user"] = map[string]any{"uid": 0, "gid": 0, "umask": 0o027}
		}
		caps := strs("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SETUID", "CAP_SETGID")
		p["capabilities"] = map[string]any{
			"bounding": caps, "effective": caps, "permitted": caps,
			"inheritable": strs("CAP_NET_RAW", "CAP_CHOWN"), "ambient": strs("CAP_NET_RAW", "CAP_CHOWN"),
		}
		p["rlimits"] = []any{
			map[string]any{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
			map[string]any{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
			map[string]any{"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
		}
		p["noNewPrivileges"] = false
		p["oomScoreAdj"] = 200
		p["env"] = strs("PATH=/bin", "CONF_A=one", "CONF_EMPTY=", "TERM=dumb")
		p["cwd"] = "/work"
		spec["hostname"] = "conf-host"
		spec["domainname"] = "conf.example"
		l := jsonObj(spec, "linux")
		l["maskedPaths"] = strs("/proc/kcore", "/proc/keys", "/proc/cpuinfo", "/sys/firmware", "/data/secret")
		l["readonlyPaths"] = strs("/proc/sys", "/proc/sysrq-trigger", "/data-rw/ro")
		addMounts(spec,
			map[string]any{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
				"options": strs("nosuid", "nodev", "noexec", "mode=1777", "size=1m")},
			bindMount("data", "/data", "rbind", "ro", "nosuid", "nodev"),
			bindMount("data-rw", "/data-rw", "bind", "rw", "noexec"))
		l["seccomp"] = map[string]any{
			"defaultAction": "SCMP_ACT_ALLOW",
			"architectures": strs("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
			"syscalls": []any{
				map[string]any{"names": strs("mkdir", "mkdirat"), "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
				map[string]any{"names": strs("mknod", "mknodat"), "action": "SCMP_ACT_ERRNO"},
			},
		}
	}
}

// confLimits: cgroup memory and pids limits, runc spec's device rules with
// one more denial, in a cgroup namespace.
func confLimits(_ *testing.T, _ string, spec map[string]any) {
	l := jsonObj(spec, "linux")
	r := jsonObj(l, "resources")
	r["memory"] = map[string]any{"limit": 64 << 20}
	r["pids"] = map[string]any{"limit": 100}
	devs, _ := r["devices"].([]any)
	r["devices"] = append(devs, map[string]any{"allow": false, "type": "c", "major": 1, "minor": 9, "access": "rwm"})
	l["cgroupsPath"] = fmt.Sprintf("/nsfconf-limits-%d", os.Getpid())
	addNamespace(spec, map[string]any{"type": "cgroup"})
}

// confNamespaces: no process.capabilities at all, a cgroup namespace and,
// as root, a user namespace with the config's own mapping.
func confNamespaces(mode string) func(*testing.T, string, map[string]any) {
	return func(_ *testing.T, _ string, spec map[string]any) {
		delete(jsonObj(spec, "process"), "capabilities")
		addNamespace(spec, map[string]any{"type": "cgroup"})
		if mode != "root" {
			return
		}
		addNamespace(spec, map[string]any{"type": "user"})
		l := jsonObj(spec, "linux")
		m := []any{map[string]any{"containerID": 0, "hostID": 200000, "size": 65536}}
		l["uidMappings"], l["gidMappings"] = m, m
	}
}

// addNamespace adds ns to linux.namespaces, replacing one of its type.
func addNamespace(spec map[string]any, ns map[string]any) {
	l := jsonObj(spec, "linux")
	old, _ := l["namespaces"].([]any)
	var out []any
	for _, o := range old {
		if o.(map[string]any)["type"] != ns["type"] {
			out = append(out, o)
		}
	}
	l["namespaces"] = append(out, ns)
}

// confJoined: the test's own network and uts namespaces joined by path
// (as a user, in runc spec --rootless's user namespace, which does not own
// them: both runtimes refuse).
func confJoined(_ *testing.T, _ string, spec map[string]any) {
	addNamespace(spec, map[string]any{"type": "network", "path": fmt.Sprintf("/proc/%d/ns/net", os.Getpid())})
	addNamespace(spec, map[string]any{"type": "uts", "path": fmt.Sprintf("/proc/%d/ns/uts", os.Getpid())})
	delete(spec, "hostname")
}
