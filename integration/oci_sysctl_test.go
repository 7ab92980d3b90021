package integration

// linux.sysctl through `sandboxrun run --bundle`: a net.* and an ipc
// sysctl are written in the sandbox's own namespaces (read back inside,
// where /proc/sys is read-only afterwards), the host's values stay as they
// were (read before and after, never written), and a host sysctl is
// refused with exit 125 before anything starts; the same with sandboxrun's
// own --sysctl.

import (
	"maps"
	"os"
	"strings"
	"testing"
)

// hostSysctls reads the host's values of the sysctls the test touches.
func hostSysctls(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range []string{"net/ipv4/ping_group_range", "kernel/msgmax", "vm/swappiness"} {
		b, err := os.ReadFile("/proc/sys/" + p)
		if err != nil {
			t.Fatal(err)
		}
		m[p] = strings.Join(strings.Fields(string(b)), " ")
	}
	return m
}

func TestOCISysctl(t *testing.T) {
	before := hostSysctls(t)
	if before["net/ipv4/ping_group_range"] == "0 0" || before["kernel/msgmax"] == "4096" {
		t.Fatalf("the host already has the values the test sets: %v", before)
	}
	defer func() {
		if after := hostSysctls(t); !maps.Equal(before, after) {
			t.Errorf("host sysctls changed: before %v, after %v", before, after)
		}
	}()
	dir := makeBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		l := jsonObj(spec, "linux")
		nss, _ := l["namespaces"].([]any)
		hasNet := false
		for _, n := range nss {
			hasNet = hasNet || n.(map[string]any)["type"] == "network"
		}
		if !hasNet { // runc spec --rootless has none
			l["namespaces"] = append(nss, map[string]any{"type": "network"})
		}
		l["sysctl"] = map[string]any{"net.ipv4.ping_group_range": "0 0", "kernel/msgmax": "4096"}
	})
	script := `cat /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/msgmax; (echo 8000 > /proc/sys/kernel/msgmax) 2>/dev/null && echo writable || echo read-only`
	modes := [][]string{{"run", "--bundle", dir}}
	if root() {
		modes = append(modes, []string{"run", "--host-root", "--bundle", dir})
	}
	for _, args := range modes {
		out := mustRun(t, append(args, "--", "/bin/sh", "-c", script)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "0 0" || lines[1] != "4096" {
			t.Errorf("%q: inside: %q, want ping_group_range \"0 0\" and msgmax 4096", args, out)
		}
		if len(lines) == 3 && lines[2] != "read-only" {
			t.Errorf("%q: /proc/sys is %s inside after the sysctls, want read-only", args, lines[2])
		}
	}

	// sandboxrun's own --sysctl, with its default sandbox (an ipc
	// namespace, as root and as a user).
	if out := strings.TrimSpace(mustRun(t, "--sysctl", "kernel.msgmax=4096", "--", "/bin/cat", "/proc/sys/kernel/msgmax")); out != "4096" {
		t.Errorf("--sysctl kernel.msgmax=4096: msgmax inside %q", out)
	}
	if r := sbx(t, "", "--sysctl", "vm.swappiness=10", "--", "/bin/echo", "started"); r.code != 125 || !strings.Contains(r.err, `sysctl "vm.swappiness"`) || strings.Contains(r.out, "started") {
		t.Errorf("--sysctl vm.swappiness=10: exit %d, stdout %q, stderr %q; want 125 naming it, nothing started", r.code, r.out, r.err)
	}

	// A host sysctl is refused before anything starts.
	editConfig(t, dir, func(spec map[string]any) {
		jsonObj(spec, "linux")["sysctl"] = map[string]any{"vm.swappiness": "10"}
	})
	r := sbx(t, "", "run", "--bundle", dir, "--", "/bin/sh", "-c", "echo started")
	if r.code != 125 || !strings.Contains(r.err, `linux.sysctl "vm.swappiness"`) || strings.Contains(r.out, "started") {
		t.Errorf("host sysctl: exit %d, stdout %q, stderr %q; want 125 naming linux.sysctl \"vm.swappiness\", nothing started", r.code, r.out, r.err)
	}
}
