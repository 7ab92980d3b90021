package sandbox

import (
	"errors"
	"maps"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":              "net/ipv4/ip_forward",
		"net/ipv4/ip_forward":              "net/ipv4/ip_forward",
		"net.ipv4.conf.eth0/100.rp_filter": "net/ipv4/conf/eth0.100/rp_filter",
		"net/ipv4/conf/eth0.100/rp_filter": "net/ipv4/conf/eth0.100/rp_filter",
		"kernel.msgmax":                    "kernel/msgmax",
		"fs.mqueue.msg_max":                "fs/mqueue/msg_max",
	} {
		got, err := SysctlPath(key)
		if err != nil || got != want {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"", "net..ip_forward", ".net.ipv4", "net.ipv4.", "net/../kernel/pid_max", "net.ipv4./", "net.a\x00b"} {
		if got, err := SysctlPath(key); err == nil {
			t.Errorf("SysctlPath(%q) = %q, want an error", key, got)
		}
	}
}

// TestSysctlValidate: the sysctls a namespace of the sandbox's own holds
// are allowed with that namespace, as runc allows them; everything else is
// refused, naming the field and the key.
func TestSysctlValidate(t *testing.T) {
	all := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.NetworkNamespace, specs.UTSNamespace}
	without := func(drop specs.LinuxNamespaceType) []specs.LinuxNamespaceType {
		var out []specs.LinuxNamespaceType
		for _, t := range all {
			if t != drop {
				out = append(out, t)
			}
		}
		return out
	}
	for _, tc := range []struct {
		key, value string
		ns         []specs.LinuxNamespace
		domainname string
		want       string // "" allowed; else a part of the error
		unsupp     bool   // the error matches errors.ErrUnsupported
	}{
		{key: "kernel.msgmax", value: "4096", ns: ns(all...)},
		{key: "kernel.msgmnb", ns: ns(all...)},
		{key: "kernel.msgmni", ns: ns(all...)},
		{key: "kernel.sem", value: "250 32000 32 128", ns: ns(all...)},
		{key: "kernel.shmall", ns: ns(all...)},
		{key: "kernel.shmmax", ns: ns(all...)},
		{key: "kernel.shmmni", ns: ns(all...)},
		{key: "kernel.shm_rmid_forced", value: "1", ns: ns(all...)},
		{key: "fs.mqueue.msg_max", ns: ns(all...)},
		{key: "fs/mqueue/queues_max", ns: ns(all...)},
		{key: "net.ipv4.ip_forward", value: "1", ns: ns(all...)},
		{key: "net/ipv4/ping_group_range", value: "0 0", ns: ns(all...)},
		{key: "net.ipv4.conf.eth0/100.rp_filter", ns: ns(all...)},
		{key: "kernel.domainname", value: "example.org", ns: ns(all...)},
		{key: "kernel.msgmax", ns: ns(without(specs.IPCNamespace)...), want: "needs an ipc namespace"},
		{key: "fs.mqueue.msg_max", ns: ns(without(specs.IPCNamespace)...), want: "needs an ipc namespace"},
		{key: "net.ipv4.ip_forward", ns: ns(without(specs.NetworkNamespace)...), want: "needs a network namespace"},
		{key: "net.ipv4.ip_forward", ns: append(ns(without(specs.NetworkNamespace)...), specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"}), want: "is the caller's"},
		{key: "kernel.msgmax", ns: append(ns(without(specs.IPCNamespace)...), specs.LinuxNamespace{Type: specs.IPCNamespace, Path: "/proc/self/ns/ipc"}), want: "is the caller's"},
		{key: "kernel.domainname", ns: ns(without(specs.UTSNamespace)...), want: "needs a uts namespace"},
		{key: "kernel.domainname", ns: ns(all...), domainname: "x", want: "conflicts with the domainname field"},
		{key: "kernel.hostname", ns: ns(all...), want: "conflicts with the hostname field"},
		{key: "vm.swappiness", ns: ns(all...), want: "is not held by a namespace", unsupp: true},
		{key: "kernel.pid_max", ns: ns(all...), want: "is not held by a namespace", unsupp: true},
		{key: "kernel.msgmax_x", ns: ns(all...), want: "is not held by a namespace", unsupp: true},
		{key: "fs.file-max", ns: ns(all...), want: "is not held by a namespace", unsupp: true},
		{key: "fs.mqueue", ns: ns(all...), want: "is not held by a namespace", unsupp: true},
		{key: "user.max_user_namespaces", ns: ns(all...), want: "is not held by a namespace", unsupp: true},
		{key: "net..x", ns: ns(all...), want: "is not a sysctl name"},
		{key: "net/../kernel/pid_max", ns: ns(all...), want: "is not a sysctl name"},
		{key: "net.ipv4.ip_forward", value: "1\x00", ns: ns(all...), want: "NUL byte"},
	} {
		name := tc.key + " " + string(tc.ns[len(tc.ns)-1].Type)
		t.Run(name, func(t *testing.T) {
			o := &Options{Namespaces: tc.ns, Domainname: tc.domainname, Sysctl: map[string]string{tc.key: tc.value}}
			err := o.validate(rootHost)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), `sandbox: sysctl "`+tc.key+`"`) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want the field, the key and %q", err, tc.want)
			}
			if errors.Is(err, errors.ErrUnsupported) != tc.unsupp {
				t.Errorf("errors.Is(ErrUnsupported) = %v, want %v: %v", !tc.unsupp, tc.unsupp, err)
			}
		})
	}
}

// TestSysctlFromSpec: a config's linux.sysctl is taken, and a host sysctl
// is refused naming linux.sysctl and the key; ToSpec gives it back.
func TestSysctlFromSpec(t *testing.T) {
	s := loadSpec(t, "runc-spec.json") // pid, network, ipc, uts, mount
	s.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": "0 0", "kernel.shm_rmid_forced": "1"}
	o, err := FromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(o.Sysctl, s.Linux.Sysctl) {
		t.Errorf("Options.Sysctl = %v, want %v", o.Sysctl, s.Linux.Sysctl)
	}
	if back := o.ToSpec(); !maps.Equal(back.Linux.Sysctl, s.Linux.Sysctl) {
		t.Errorf("ToSpec: linux.sysctl = %v", back.Linux.Sysctl)
	}
	s.Linux.Sysctl["vm.swappiness"] = "10"
	_, err = FromSpec(s)
	if err == nil || !strings.Contains(err.Error(), `sandbox: linux.sysctl "vm.swappiness": is not held by a namespace`) {
		t.Errorf("host sysctl: %v", err)
	}
	// Without a network namespace, net.* is refused too.
	s = loadSpec(t, "runc-spec.json")
	var kept []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			kept = append(kept, n)
		}
	}
	s.Linux.Namespaces = kept
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	if _, err := FromSpec(s); err == nil || !strings.Contains(err.Error(), `linux.sysctl "net.ipv4.ip_forward": needs a network namespace`) {
		t.Errorf("net.* without a network namespace: %v", err)
	}
}
