package main

import (
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// TestOCIFeaturesTruthful holds the features document to what the packages
// accept: every action, operator, architecture and flag it lists compiles,
// the ones it leaves out do not, and every mount option it lists is one
// nsfork applies by name.
func TestOCIFeaturesTruthful(t *testing.T) {
	compile := func(p *specs.LinuxSeccomp) error {
		_, err := seccomp.Compile(p, "amd64")
		return err
	}
	for _, a := range featureSeccompActions {
		if err := compile(&specs.LinuxSeccomp{DefaultAction: a}); err != nil {
			t.Errorf("features lists action %s, which does not compile: %v", a, err)
		}
	}
	if err := compile(&specs.LinuxSeccomp{DefaultAction: specs.ActNotify}); err == nil {
		t.Errorf("%s compiles: list it in the features", specs.ActNotify)
	}
	for _, op := range featureSeccompOperators {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"},
			Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, ValueTwo: 1, Op: op}}}}}
		if err := compile(p); err != nil {
			t.Errorf("features lists operator %s, which does not compile: %v", op, err)
		}
	}
	for _, a := range featureSeccompArchs {
		if err := compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{a}}); err != nil {
			t.Errorf("features lists architecture %s, which does not compile: %v", a, err)
		}
	}
	if _, err := seccomp.FlagBits(featureSeccompFlags); err != nil {
		t.Errorf("features lists seccomp flags that are refused: %v", err)
	}
	if _, err := seccomp.FlagBits([]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}); err == nil {
		t.Errorf("%s is accepted: list it in the features", specs.LinuxSeccompFlagWaitKillableRecv)
	}
	doc := ociFeaturesDoc()
	for _, o := range doc.MountOptions {
		if sandbox.MountOption(o) == sandbox.MountOptionUnsupported || sandbox.MountOption(o) == sandbox.MountOptionData {
			t.Errorf("features lists mount option %q, which nsfork does not apply by name", o)
		}
	}
	// idmap and ridmap are listed (applied or refused with the reason at
	// start); the extension is claimed only where this launcher can make
	// them (root in the initial user namespace).
	if !slices.Contains(doc.MountOptions, "idmap") || !slices.Contains(doc.MountOptions, "ridmap") {
		t.Errorf("features does not list idmap and ridmap: %q", doc.MountOptions)
	}
	if *doc.Linux.MountExtensions.IDMap.Enabled != fork.MapsMounts() || (os.Geteuid() != 0 && fork.MapsMounts()) {
		t.Errorf("features claims id-mapped mounts %v, this launcher can make them: %v", *doc.Linux.MountExtensions.IDMap.Enabled, fork.MapsMounts())
	}
}
