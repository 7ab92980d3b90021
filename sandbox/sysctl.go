package sandbox

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Sysctls (OCI linux.sysctl) are written in the child through the
// sandbox's own /proc/sys. Only the ones a namespace of the sandbox's own
// holds are allowed, with the rules runc applies: the System V IPC limits
// and fs.mqueue.* with an ipc namespace, net.* with a network namespace,
// kernel.domainname with a uts namespace (kernel.hostname is the
// hostname field's). A namespace counts when it is new or joined by a
// path that is not the caller's own (runc checks the path for the network
// namespace only; nsfork checks it for all three). Everything else
// belongs to the host, and writing it would change every process there:
// it is refused before anything starts.

// ipcSysctls are the System V IPC sysctls of an ipc namespace (besides
// fs.mqueue.*).
var ipcSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
	"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// SysctlKey returns key in the dotted form of sysctl(8): a key whose first
// separator is "/" ("net/ipv4/conf/eth0.100/rp_filter") has its dots and
// slashes swapped ("net.ipv4.conf.eth0/100.rp_filter").
func SysctlKey(key string) string {
	i := strings.IndexAny(key, "./")
	if i < 0 || key[i] == '.' {
		return key
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}

// SysctlPath returns the path beneath /proc/sys of a sysctl key in either
// form ("net.ipv4.ip_forward" and "net/ipv4/ip_forward" are
// "net/ipv4/ip_forward"), or an error for a key that names no file there
// (an empty component, ".", "..", a NUL byte).
func SysctlPath(key string) (string, error) {
	parts := strings.Split(SysctlKey(key), ".")
	for i, p := range parts {
		p = strings.ReplaceAll(p, "/", ".")
		if p == "" || p == "." || p == ".." || strings.IndexByte(p, 0) >= 0 {
			return "", fmt.Errorf("is not a sysctl name: component %d is %q", i+1, p)
		}
		parts[i] = p
	}
	return strings.Join(parts, "/"), nil
}

// sysctlNamespace returns the namespace type that holds the dotted sysctl
// key, or "" for one of the host's.
func sysctlNamespace(key string) specs.LinuxNamespaceType {
	switch {
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace
	case strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace
	case key == "kernel.domainname" || key == "kernel.hostname":
		return specs.UTSNamespace
	}
	for _, k := range ipcSysctls {
		if key == k {
			return specs.IPCNamespace
		}
	}
	return ""
}

// validateSysctl checks every key of sysctl against the namespaces of
// namespaces, naming field (linux.sysctl in an OCI config, sysctl in
// Options) and the key. ownNS, when not nil, tells whether a namespace
// file is the caller's own namespace of that type (a join of it is no
// namespace of the sandbox's own).
func validateSysctl(errs *errList, field string, sysctl map[string]string, namespaces []specs.LinuxNamespace, domainname string, ownNS func(string, specs.LinuxNamespaceType) (bool, error)) {
	if len(sysctl) == 0 {
		return
	}
	has := map[specs.LinuxNamespaceType]string{} // type -> "" (own) or why not
	for _, t := range []specs.LinuxNamespaceType{specs.IPCNamespace, specs.NetworkNamespace, specs.UTSNamespace} {
		a := "a"
		if t == specs.IPCNamespace {
			a = "an"
		}
		has[t] = fmt.Sprintf("needs %s %s namespace of the sandbox's own (namespaces has none): in the caller's it would change the host", a, t)
		for _, ns := range namespaces {
			if ns.Type != t {
				continue
			}
			has[t] = ""
			if ns.Path == "" || ownNS == nil {
				break
			}
			own, err := ownNS(ns.Path, t)
			switch {
			case err != nil:
				has[t] = fmt.Sprintf("needs %s %s namespace of the sandbox's own, and the one joined (%s) cannot be compared with the caller's: %v", a, t, ns.Path, err)
			case own:
				has[t] = fmt.Sprintf("needs %s %s namespace of the sandbox's own, and the one joined (%s) is the caller's: it would change the host", a, t, ns.Path)
			}
		}
	}
	for _, k := range sortedKeys(sysctl) {
		if strings.IndexByte(sysctl[k], 0) >= 0 {
			errs.add(field, k, "the value contains a NUL byte")
		}
		if _, err := SysctlPath(k); err != nil {
			errs.add(field, k, err.Error())
			continue
		}
		key := SysctlKey(k)
		t := sysctlNamespace(key)
		switch {
		case t == "":
			errs.unsupported(field, k, "is not held by a namespace: writing it would change the host for every process (as runc, nsfork allows kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced and fs.mqueue.* with an ipc namespace, net.* with a network namespace, kernel.domainname with a uts namespace)")
		case has[t] != "":
			errs.add(field, k, has[t])
		case key == "kernel.hostname":
			errs.add(field, k, "conflicts with the hostname field: set the host name there (runc refuses it too)")
		case key == "kernel.domainname" && domainname != "":
			errs.add(field, k, "conflicts with the domainname field, which is set")
		}
	}
}
