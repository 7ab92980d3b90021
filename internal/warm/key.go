package warm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// Canonical is the canonical form of validated options: their JSON, which
// lists struct fields in declaration order and map keys sorted.
func Canonical(o *sandbox.Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("warm: encoding the options: %w", err)
	}
	return b, nil
}

// Key is the pool's name: a hash of the canonical options and the
// caller's context.
func Key(canonical, context []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "nsfork-warm-1\x00%d\x00", len(canonical))
	h.Write(canonical)
	h.Write(context)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// statusFields are the lines of /proc/PID/status a cold launch inherits
// from its caller.
var statusFields = []string{"Uid", "Gid", "Groups", "Umask", "NoNewPrivs", "Seccomp",
	"Seccomp_filters", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigIgn"}

// namespaceNames are the namespaces a cold launch starts from.
var namespaceNames = []string{"user", "pid", "pid_for_children", "mnt", "net", "uts", "ipc", "cgroup", "time", "time_for_children"}

// CallerContext describes what a sandbox started by process pid inherits
// from it besides the options: its ids and groups, umask, no_new_privs,
// seccomp mode, capabilities, ignored signals, namespaces, cgroup, rlimits,
// root, executable, and its scope (the Slurm job of its environment, or
// else its session). Two processes with the same context start the same
// sandbox from the same options.
func CallerContext(pid int) ([]byte, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	var b bytes.Buffer
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		return nil, fmt.Errorf("warm: caller context: %w", err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			lines[k] = strings.TrimSpace(v)
		}
	}
	lines["NoNewPrivs"] = processNoNewPrivs(proc, lines["NoNewPrivs"])
	for _, k := range statusFields {
		fmt.Fprintf(&b, "%s=%s\n", k, lines[k])
	}
	for _, n := range namespaceNames {
		l, err := os.Readlink(proc + "/ns/" + n)
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("warm: caller context: %w", err)
		}
		fmt.Fprintf(&b, "ns %s=%s\n", n, l)
	}
	for _, f := range []string{"cgroup", "limits"} {
		c, err := os.ReadFile(proc + "/" + f)
		if err != nil {
			return nil, fmt.Errorf("warm: caller context: %w", err)
		}
		fmt.Fprintf(&b, "%s=%q\n", f, c)
	}
	root, err := os.Readlink(proc + "/root")
	if err != nil {
		return nil, fmt.Errorf("warm: caller context: %w", err)
	}
	var exe unix.Stat_t
	if err := unix.Stat(proc+"/exe", &exe); err != nil {
		return nil, fmt.Errorf("warm: caller context: stat %s/exe: %w", proc, err)
	}
	fmt.Fprintf(&b, "root=%s\nexe=%d:%d:%d:%d.%d\n", root, exe.Dev, exe.Ino, exe.Size, exe.Mtim.Sec, exe.Mtim.Nsec)
	scope, err := scopeOf(pid)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "scope=%s\n", scope)
	return b.Bytes(), nil
}

// scopeOf is what a pool is scoped to: the Slurm job of pid's environment,
// or else pid's session.
func scopeOf(pid int) (string, error) {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return "", fmt.Errorf("warm: caller scope: %w", err)
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("SLURM_JOB_ID=")); ok && len(v) > 0 {
			return "slurm-job:" + string(v), nil
		}
	}
	sid, err := unix.Getsid(pid)
	if err != nil {
		return "", fmt.Errorf("warm: caller scope: getsid %d: %w", pid, err)
	}
	return "session:" + strconv.Itoa(sid), nil
}

// contextDiff names the entries of two contexts that differ ("" when
// none), without their values.
func contextDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var names []string
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			k, _, _ := strings.Cut(x+y, "=")
			names = append(names, k)
		}
	}
	return strings.Join(names, ", ")
}

// processNoNewPrivs is no_new_privs as the process has it: "1" only if
// every thread has it. /proc/PID/status shows the main thread's, which
// package fork may have set for that thread alone, to start sandboxes
// that ask for it from there (its spawner threads); what a sandbox
// inherits from its caller beyond its options is the process's.
func processNoNewPrivs(proc, main string) string {
	if main != "1" {
		return main
	}
	tasks, err := os.ReadDir(proc + "/task")
	if err != nil {
		return main
	}
	for _, t := range tasks {
		st, err := os.ReadFile(proc + "/task/" + t.Name() + "/status")
		if err == nil && strings.Contains(string(st), "\nNoNewPrivs:\t0\n") {
			return "0"
		}
	}
	return main
}
