package main

import (
	"errors"
	"math"
	"slices"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/fork"
)

func TestParseRlimit(t *testing.T) {
	for in, want := range map[string]specs.POSIXRlimit{
		"nofile=1024":             {Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024},
		"NOFILE=10:20":            {Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20},
		"RLIMIT_CORE=0":           {Type: "RLIMIT_CORE"},
		"stack=8388608:unlimited": {Type: "RLIMIT_STACK", Soft: 8388608, Hard: math.MaxUint64},
	} {
		got, err := parseRlimit(in)
		if err != nil || got != want {
			t.Errorf("parseRlimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"nofile", "bogus=1", "nofile=x", "nofile=20:10"} {
		if _, err := parseRlimit(bad); err == nil {
			t.Errorf("parseRlimit(%q): no error", bad)
		}
	}
}

func TestParseBindTmpfs(t *testing.T) {
	m, err := parseBind("/src:/dst:ro", false)
	if err != nil || m.Source != "/src" || m.Destination != "/dst" || !slices.Equal(m.Options, []string{"rbind", "rro"}) {
		t.Errorf("bind: %+v %v", m, err)
	}
	m, err = parseBind("/src", true)
	if err != nil || m.Destination != "/src" || !slices.Contains(m.Options, "rro") {
		t.Errorf("ro-bind: %+v %v", m, err)
	}
	if _, err := parseBind("/a:rel", false); err == nil {
		t.Error("relative destination accepted")
	}
	if _, err := parseBind("/a:/b:rw", true); err == nil {
		t.Error("--ro-bind :rw accepted")
	}
	m, err = parseTmpfs("/tmp:size=1m,mode=1777")
	if err != nil || m.Type != "tmpfs" || !slices.Contains(m.Options, "size=1m") || !slices.Contains(m.Options, "nosuid") {
		t.Errorf("tmpfs: %+v %v", m, err)
	}
}

func TestParseSizeCPUs(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "512k": 512 << 10, "64m": 64 << 20, "2G": 2 << 30, "1.5g": 3 << 29, "100MiB": 100 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "x", "1q"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
	if q, err := parseCPUs("1.5"); err != nil || q != 150000 {
		t.Errorf("parseCPUs(1.5) = %d, %v", q, err)
	}
}

func TestCapabilitiesFlags(t *testing.T) {
	f := addRunFlags(newFlagSet())
	f.fs.Parse([]string{"--cap-add", "ALL", "--cap-drop", "net_raw,SYS_ADMIN"})
	pl, err := f.build([]string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	c := pl.opts.Capabilities
	if slices.Contains(c.Effective, "CAP_NET_RAW") || slices.Contains(c.Bounding, "CAP_SYS_ADMIN") || !slices.Contains(c.Ambient, "CAP_CHOWN") {
		t.Errorf("caps: %+v", c)
	}
}

func TestNamespaceFlags(t *testing.T) {
	f := addRunFlags(newFlagSet())
	f.fs.Parse([]string{"--unshare-all", "--share-net", "--unshare-time"})
	pl, err := f.build([]string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.CgroupNamespace, specs.TimeNamespace} {
		if !pl.opts.NewNamespace(want) {
			t.Errorf("no new %s namespace", want)
		}
	}
	if pl.opts.NewNamespace(specs.NetworkNamespace) {
		t.Error("--share-net kept a network namespace")
	}
	f = addRunFlags(newFlagSet())
	f.fs.Parse([]string{"--unshare-net", "--share-net"})
	if _, err := f.build([]string{"true"}); err == nil {
		t.Error("contradiction accepted")
	}
}

func TestOutcome(t *testing.T) {
	se := &fork.SetupError{Step: "mount", Op: "mount proc", Path: "/proc", Errno: syscall.EPERM}
	code, msg := outcome(se, nil)
	if code != 125 || msg != "mount proc /proc: operation not permitted (EPERM)" {
		t.Errorf("setup error: %d %q", code, msg)
	}
	code, msg = outcome(&fork.SetupError{Step: "cwd", Op: "chdir", Path: "/x", Errno: syscall.ENOENT}, nil)
	if code != 125 || msg != "cwd: chdir /x: no such file or directory (ENOENT)" {
		t.Errorf("cwd: %d %q", code, msg)
	}
	if code, _ := outcome(errors.New("x"), nil); code != 125 {
		t.Errorf("plain error: %d", code)
	}
	if code, _ := outcome(nil, nil); code != 0 {
		t.Errorf("nil: %d", code)
	}
}

func newFlagSet() *pflag.FlagSet { return pflag.NewFlagSet("test", pflag.ContinueOnError) }
