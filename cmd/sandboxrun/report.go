package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/lookup"
	"github.com/nsfork/nsfork/sandbox"
)

// reportDoc is what --report writes.
type reportDoc struct {
	Version  int          `json:"version"`
	Command  []string     `json:"command"`
	Launcher launcherInfo `json:"launcher"`
	// Requested is what sandboxrun asked for; the seccomp profile is
	// summarised in Seccomp.
	Requested *sandbox.Options `json:"requested"`
	Seccomp   *seccompInfo     `json:"seccompProfile,omitempty"`
	// Applied is the sandbox's own record, made inside after the last
	// setup step and before the command runs.
	Applied *sandbox.Applied `json:"applied"`
	Parent  parentView       `json:"parent"`
	Strict  *strictInfo      `json:"strict,omitempty"`
	// Notes say how sandboxrun read an OCI config where it had a choice.
	Notes []string `json:"notes,omitempty"`
	// Result is added to a report FILE once the command has ended.
	Result *resultInfo `json:"result,omitempty"`
}

type seccompInfo struct {
	Name          string   `json:"name"` // default, a file, or "config"
	DefaultAction string   `json:"defaultAction"`
	Architectures []string `json:"architectures,omitempty"`
	Rules         int      `json:"rules"`
	Syscalls      int      `json:"syscalls"` // names with a rule
}

type launcherInfo struct {
	EUID          int    `json:"euid"`
	EGID          int    `json:"egid"`
	Rootless      bool   `json:"rootless"`
	Seccomp       string `json:"seccomp"` // default, unconfined, a file, or "config"
	Timeout       string `json:"timeout,omitempty"`
	KillAfter     string `json:"killAfter,omitempty"`
	DieWithParent bool   `json:"dieWithParent"`
}

// parentView is the sandbox seen from sandboxrun, outside it.
type parentView struct {
	Pid           int               `json:"pid"` // the sandbox's first process, in sandboxrun's pid namespace
	Namespaces    map[string]string `json:"namespaces,omitempty"`
	NewNamespaces []string          `json:"newNamespaces,omitempty"` // those that differ from sandboxrun's own
	UIDMap        string            `json:"uidMap,omitempty"`
	GIDMap        string            `json:"gidMap,omitempty"`
	Cgroup        string            `json:"cgroup,omitempty"` // /proc/PID/cgroup
	NewCgroup     bool              `json:"newCgroup"`
	// CapBnd is the sandbox's bounding set, /proc/PID/status CapBnd (the
	// sandbox's own record has the other four sets).
	CapBnd string `json:"capBnd,omitempty"`
}

type strictInfo struct {
	OK      bool     `json:"ok"`
	Missing []string `json:"missing,omitempty"`
}

type resultInfo struct {
	ExitCode int         `json:"exitCode"`
	Error    string      `json:"error,omitempty"`
	Usage    *fork.Usage `json:"usage,omitempty"`
}

// reporter writes --report and checks --strict.
type reporter struct {
	pl     *plan
	f      *runFlags
	p      *fork.Process
	stdout io.Writer
	doc    *reportDoc
	wrote  bool
}

func newReporter(pl *plan, f *runFlags, p *fork.Process, stdout io.Writer) *reporter {
	if f.report == "" && !f.strict {
		return nil
	}
	return &reporter{pl: pl, f: f, p: p, stdout: stdout}
}

func (r *reporter) build(applied *sandbox.Applied) {
	o := r.pl.opts
	req := o.Clone()
	req.Seccomp = nil
	d := &reportDoc{
		Version:   1,
		Command:   r.pl.argv,
		Requested: req,
		Notes:     r.pl.notes,
		Applied:   applied,
		Launcher: launcherInfo{
			EUID: os.Geteuid(), EGID: os.Getegid(), Rootless: !sandbox.RootInInitialUserNS(),
			Seccomp: r.pl.seccomp, DieWithParent: o.DieWithParent,
		},
		Parent: parentOf(r.p.Pid),
	}
	if s := o.Seccomp; s != nil {
		si := &seccompInfo{Name: r.pl.seccomp, DefaultAction: string(s.DefaultAction), Rules: len(s.Syscalls)}
		for _, a := range s.Architectures {
			si.Architectures = append(si.Architectures, string(a))
		}
		for _, sc := range s.Syscalls {
			si.Syscalls += len(sc.Names)
		}
		d.Seccomp = si
	}
	if r.f.timeout > 0 {
		d.Launcher.Timeout = r.f.timeout.String()
	}
	if r.f.killAft > 0 {
		d.Launcher.KillAfter = r.f.killAft.String()
	}
	if r.f.strict && applied != nil {
		missing := strictCheck(o, applied, &d.Parent)
		d.Strict = &strictInfo{OK: len(missing) == 0, Missing: missing}
	}
	r.doc = d
}

// finish completes the report once the command has ended.
func (r *reporter) finish(werr error, code int) error {
	if r.f.report == "" {
		return nil
	}
	if r.doc == nil {
		r.build(r.p.Applied())
	}
	if r.f.report == "-" && r.wrote {
		return nil
	}
	res := &resultInfo{ExitCode: code, Usage: r.p.Usage()}
	if werr != nil {
		res.Error = werr.Error()
	}
	r.doc.Result = res
	return r.write()
}

func (r *reporter) write() error {
	b, err := json.MarshalIndent(r.doc, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	r.wrote = true
	if r.f.report == "-" {
		_, err := r.stdout.Write(b)
		return err
	}
	// Replace the file in one step, so a reader never sees half of it.
	dir := filepath.Dir(r.f.report)
	tmp, err := os.CreateTemp(dir, ".sandboxrun-report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), r.f.report)
}

// procNames are the /proc/PID/ns names of the OCI namespace types.
var procNames = lookup.Table[specs.LinuxNamespaceType, string]{
	{Key: specs.UserNamespace, Val: "user"}, {Key: specs.PIDNamespace, Val: "pid"}, {Key: specs.MountNamespace, Val: "mnt"},
	{Key: specs.NetworkNamespace, Val: "net"}, {Key: specs.UTSNamespace, Val: "uts"}, {Key: specs.IPCNamespace, Val: "ipc"},
	{Key: specs.CgroupNamespace, Val: "cgroup"}, {Key: specs.TimeNamespace, Val: "time"},
}

var nsOrder = []string{"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"}

func nsLinks(pid string) map[string]string {
	m := map[string]string{}
	for _, n := range nsOrder {
		if l, err := os.Readlink("/proc/" + pid + "/ns/" + n); err == nil {
			m[n] = l
		}
	}
	return m
}

func parentOf(pid int) parentView {
	v := parentView{Pid: pid}
	ps := strconv.Itoa(pid)
	v.Namespaces = nsLinks(ps)
	own := nsLinks("self")
	for _, n := range nsOrder {
		if l, ok := v.Namespaces[n]; ok && own[n] != "" && l != own[n] {
			v.NewNamespaces = append(v.NewNamespaces, n)
		}
	}
	if b, err := os.ReadFile("/proc/" + ps + "/uid_map"); err == nil {
		v.UIDMap = string(b)
	}
	if b, err := os.ReadFile("/proc/" + ps + "/gid_map"); err == nil {
		v.GIDMap = string(b)
	}
	if st, err := os.ReadFile("/proc/" + ps + "/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if x, ok := strings.CutPrefix(l, "CapBnd:"); ok {
				v.CapBnd = strings.TrimSpace(x)
			}
		}
	}
	if b, err := os.ReadFile("/proc/" + ps + "/cgroup"); err == nil {
		v.Cgroup = string(b)
		self, _ := os.ReadFile("/proc/self/cgroup")
		v.NewCgroup = !bytes.Equal(b, self)
	}
	return v
}

// strictCheck lists what o asked for and the sandbox did not apply.
func strictCheck(o *sandbox.Options, a *sandbox.Applied, pv *parentView) []string {
	var miss []string
	own := nsLinks("self")
	for _, ns := range o.Namespaces {
		n := procNames.Value(ns.Type)
		got := a.Namespaces[n]
		switch {
		case got == "":
			miss = append(miss, fmt.Sprintf("%s namespace: not reported by the sandbox", ns.Type))
		case ns.Path == "" && got == own[n]:
			miss = append(miss, fmt.Sprintf("new %s namespace: the sandbox shares sandboxrun's (%s)", ns.Type, got))
		}
	}
	if o.Hostname != "" && a.Hostname != o.Hostname {
		miss = append(miss, fmt.Sprintf("hostname %q: got %q", o.Hostname, a.Hostname))
	}
	if o.NewNamespace(specs.UserNamespace) || os.Geteuid() == 0 {
		if a.UID != int(o.User.UID) || a.GID != int(o.User.GID) {
			miss = append(miss, fmt.Sprintf("user %d:%d: the sandbox runs as %d:%d", o.User.UID, o.User.GID, a.UID, a.GID))
		}
	}
	for _, r := range o.Rlimits {
		if got, ok := a.Rlimits[r.Type]; !ok || got != [2]uint64{r.Soft, r.Hard} {
			miss = append(miss, fmt.Sprintf("rlimit %s=%d:%d: not applied", r.Type, r.Soft, r.Hard))
		}
	}
	if c := o.Capabilities; c != nil {
		for _, s := range []struct {
			name  string
			names []string
		}{{"effective", c.Effective}, {"permitted", c.Permitted}, {"inheritable", c.Inheritable}, {"ambient", c.Ambient}} {
			want := capMask(s.names)
			got, err := strconv.ParseUint(strings.TrimPrefix(a.Capabilities[s.name], "0x"), 16, 64)
			if err != nil || got != want {
				miss = append(miss, fmt.Sprintf("%s capabilities %#x: the sandbox reports %q", s.name, want, a.Capabilities[s.name]))
			}
		}
	}
	if c := o.Capabilities; c != nil {
		// The bounding set, from outside: the sandbox's record has no
		// bounding set. Bits above the kernel's last capability cannot
		// show in /proc and are left out of the comparison.
		want := capMask(c.Bounding) & lastCapMask()
		got, err := strconv.ParseUint(pv.CapBnd, 16, 64)
		if err != nil || got != want {
			miss = append(miss, fmt.Sprintf("bounding capabilities %#x: the sandbox's /proc status shows %q", want, pv.CapBnd))
		}
	}
	if o.NoNewPrivileges && !a.NoNewPrivileges {
		miss = append(miss, "no_new_privs: not set")
	}
	if o.Seccomp != nil && a.Seccomp == nil {
		miss = append(miss, "seccomp: no filter loaded")
	}
	if o.Landlock != nil && a.Landlock == nil {
		miss = append(miss, "landlock: not enforced")
	}
	if o.Root != nil && o.Root.Path != "/" && a.Root == "" {
		miss = append(miss, "root "+o.Root.Path+": not entered")
	}
	if len(a.Mounts) < len(o.Mounts) {
		miss = append(miss, fmt.Sprintf("mounts: %d asked for, %d reported", len(o.Mounts), len(a.Mounts)))
	}
	for _, x := range a.Inexact {
		miss = append(miss, "not applied exactly: "+x)
	}
	if o.NewNamespace(specs.CgroupNamespace) {
		for _, l := range strings.Split(strings.TrimSpace(a.CgroupView), "\n") {
			if parts := strings.SplitN(l, ":", 3); len(parts) == 3 && parts[2] != "/" {
				miss = append(miss, fmt.Sprintf("cgroup namespace: /proc/self/cgroup inside reads %q, not rooted at the sandbox's cgroup", l))
			}
		}
	}
	if o.Resources != nil && !pv.NewCgroup {
		miss = append(miss, "cgroup limits: the sandbox is in sandboxrun's own cgroup")
	}
	return miss
}

// lastCapMask is the mask of every capability the kernel has, read from
// /proc/sys/kernel/cap_last_cap; without it, every bit.
func lastCapMask() uint64 {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return ^uint64(0)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n >= 63 {
		return ^uint64(0)
	}
	return 1<<uint(n+1) - 1
}

func capMask(names []string) uint64 {
	var m uint64
	for _, n := range names {
		if c, err := sandbox.CapabilityValue(n); err == nil {
			m |= 1 << uint(c)
		}
	}
	return m
}

// ociDefaultNotes says, for the --report, what sandboxrun did for the
// fields an OCI config at path leaves out, each as runc reads its absence.
// What a config sets is in the report's "requested" as it was read.
func ociDefaultNotes(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var s struct {
		Process *struct {
			User struct {
				Umask json.RawMessage `json:"umask"`
			} `json:"user"`
			Capabilities    json.RawMessage `json:"capabilities"`
			NoNewPrivileges json.RawMessage `json:"noNewPrivileges"`
		} `json:"process"`
		Linux *struct {
			MaskedPaths       json.RawMessage `json:"maskedPaths"`
			ReadonlyPaths     json.RawMessage `json:"readonlyPaths"`
			Seccomp           json.RawMessage `json:"seccomp"`
			RootfsPropagation json.RawMessage `json:"rootfsPropagation"`
		} `json:"linux"`
	}
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	absent := func(m json.RawMessage) bool { return len(m) == 0 || string(m) == "null" }
	var notes []string
	if p := s.Process; p == nil || absent(p.Capabilities) {
		notes = append(notes, "process.capabilities: absent, so no capabilities in any set (as runc and crun)")
	}
	if p := s.Process; p == nil || absent(p.User.Umask) {
		notes = append(notes, "process.user.umask: absent, so 0022 (as runc)")
	}
	if p := s.Process; p == nil || absent(p.NoNewPrivileges) {
		notes = append(notes, "process.noNewPrivileges: absent, so not set (as runc; --no-new-privs sets it)")
	}
	l := s.Linux
	if l == nil || absent(l.MaskedPaths) {
		notes = append(notes, "linux.maskedPaths: absent, so runc's default list")
	}
	if l == nil || absent(l.ReadonlyPaths) {
		notes = append(notes, "linux.readonlyPaths: absent, so runc's default list")
	}
	if l == nil || absent(l.Seccomp) {
		notes = append(notes, "linux.seccomp: absent, so no filter unless --seccomp names one (as runc)")
	}
	if l == nil || absent(l.RootfsPropagation) {
		notes = append(notes, "linux.rootfsPropagation: absent, so the mounts are rslave (as runc)")
	}
	return notes
}
