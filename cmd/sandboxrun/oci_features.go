package main

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/sandbox"
)

// What nsfork's seccomp compiler accepts (oci_features_test.go holds each
// of these to seccomp.Compile and seccomp.FlagBits). SCMP_ACT_NOTIFY and
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV are refused: no listener support.
var (
	featureSeccompActions = []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillThread, specs.ActKillProcess,
		specs.ActTrap, specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog}
	featureSeccompOperators = []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual}
	featureSeccompArchs = []specs.Arch{specs.ArchX86_64, specs.ArchX32, specs.ArchX86, specs.ArchAARCH64, specs.ArchARM}
	featureSeccompFlags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
	featureNamespaces   = []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace,
		specs.IPCNamespace, specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace}
)

func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

// ociFeaturesDoc is the runtime-spec features document: what this runtime
// recognises and applies, and no more.
func ociFeaturesDoc() *features.Features {
	yes, no := true, false
	// Id-mapped binds are made by the launcher, which must be root in the
	// initial user namespace: claimed for such a caller only.
	idmap := fork.MapsMounts()
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         ociruntime.SupportedHooks,
		MountOptions:  sandbox.MountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   strs(featureNamespaces),
			Capabilities: sandbox.CapabilityNames(),
			// cgroupfs written directly, v1 and v2; no systemd driver.
			Cgroup: &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &no},
			Seccomp: &features.Seccomp{Enabled: &yes, Actions: strs(featureSeccompActions), Operators: strs(featureSeccompOperators),
				Archs: strs(featureSeccompArchs), KnownFlags: strs(featureSeccompFlags), SupportedFlags: strs(featureSeccompFlags)},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &idmap}},
		},
		Annotations: map[string]string{"io.github.nsfork.version": version},
	}
}

func ociFeatures(g *ociGlobal, args []string) error {
	fs := verbFlags("features")
	if _, err := parseVerb(fs, args, 0, 0, "sandboxrun [global flags] features"); err != nil {
		return err
	}
	return printJSON(g, ociFeaturesDoc())
}
