package sandbox

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMPIPreset(t *testing.T) {
	for _, c := range []struct {
		name string
		h    *host
	}{{"root", rootHost}, {"rootless", rootlessHost}} {
		t.Run(c.name, func(t *testing.T) {
			o := mpiPreset(c.h.euid, c.h.egid, c.h.hostRoot, "job")
			for _, keep := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace} {
				if _, ok := o.Namespace(keep); ok {
					t.Errorf("the mpi preset makes a %s namespace", keep)
				}
			}
			// Every caller gets a user namespace: root's ranks are never
			// host root, and share one leased range per job.
			if !o.NewNamespace(specs.MountNamespace) || !o.NewNamespace(specs.UserNamespace) {
				t.Errorf("namespaces %v", o.Namespaces)
			}
			if c.h.euid == 0 && (!o.leasesIDRange(c.h) || o.IDRangeKey != "job") {
				t.Errorf("root: leases a range %v with key %q, want a range keyed by the job", o.leasesIDRange(c.h), o.IDRangeKey)
			}
			if c.h.euid != 0 {
				want := []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 1000, Size: 1}}
				if !slices.Equal(o.UIDMappings, want) || !slices.Equal(o.GIDMappings, want) || o.User.UID != 1000 || o.User.GID != 1000 {
					t.Errorf("ids not mapped to themselves: %v %v %+v", o.UIDMappings, o.GIDMappings, o.User)
				}
			}
			if o.Capabilities == nil || len(o.Capabilities.Bounding) != 0 || !o.NoNewPrivileges || !o.DieWithParent {
				t.Errorf("not hardened: %+v", o)
			}
			if !slices.Contains(o.ReadonlyPaths, "/usr") || slices.Contains(o.ReadonlyPaths, "/tmp") || slices.Contains(o.ReadonlyPaths, "/dev") {
				t.Errorf("read-only paths %v", o.ReadonlyPaths)
			}
			// The host's file system, read-only but for the shared
			// /dev/shm and /tmp; the environment kept.
			shared := []specs.Mount{HostDevices(), BindRW("/dev/shm"), BindRW("/tmp")}
			if o.ClearEnv || o.Root == nil || o.Root.Path != "/" || !o.Root.Readonly || !reflect.DeepEqual(o.Mounts, shared) {
				t.Errorf("the preset must keep the environment and share /dev/shm and /tmp on a read-only host root: %+v", o)
			}
			if err := o.validate(c.h); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if ps := CheckMPI(o, nil); len(ps) != 0 {
				t.Errorf("CheckMPI(MPI preset) = %v", ps)
			}
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			var back Options
			if err := json.Unmarshal(b, &back); err != nil || len(back.ReadonlyPaths) != len(o.ReadonlyPaths) {
				t.Errorf("JSON round trip: %v", err)
			}
		})
	}
}

func TestMPISeccomp(t *testing.T) {
	base := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"process_vm_readv", "ptrace"}, Action: specs.ActErrno},
			{Names: []string{"process_vm_writev"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}},
		},
	}
	if allowsAll(base, MPISyscalls) {
		t.Fatal("the base profile already allows CMA")
	}
	p := MPISeccomp(base)
	if !allowsAll(p, MPISyscalls) {
		t.Errorf("MPISeccomp does not allow %v: %+v", MPISyscalls, p.Syscalls)
	}
	if len(base.Syscalls) != 3 || !slices.Contains(base.Syscalls[1].Names, "process_vm_readv") {
		t.Error("MPISeccomp changed its argument")
	}
	if !slices.ContainsFunc(p.Syscalls, func(r specs.LinuxSyscall) bool {
		return slices.Equal(r.Names, []string{"ptrace"}) && r.Action == specs.ActErrno
	}) {
		t.Errorf("ptrace's rule lost: %+v", p.Syscalls)
	}
	if MPISeccomp(nil) != nil {
		t.Error("unconfined became a filter")
	}
	if !allowsAll(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, MPISyscalls) {
		t.Error("an allow-by-default profile denies CMA")
	}
}

func TestCheckMPI(t *testing.T) {
	has := func(ps []MPIProblem, field, text string) bool {
		return slices.ContainsFunc(ps, func(p MPIProblem) bool { return p.Field == field && strings.Contains(p.Msg, text) })
	}
	o := Root()
	ps := CheckMPI(o, nil)
	if !has(ps, "namespaces", "pid namespace") || !has(ps, "namespaces", "network namespace") {
		t.Errorf("Root(): %v", ps)
	}
	for _, p := range ps {
		// The default view's private /dev/shm and /tmp only slow MPI.
		if p.Fatal != (p.Field == "namespaces") {
			t.Errorf("%v: fatal %v", p, p.Fatal)
		}
	}
	o = rootless(1000, 1000, false)
	if ps := CheckMPI(o, nil); !has(ps, "user", "uid 0 inside is host uid 1000") {
		t.Errorf("Rootless(): %v", ps)
	}

	for _, c := range []struct {
		name    string
		mounts  []specs.Mount
		root    string
		private bool
	}{
		{"none", nil, "", false},
		{"tmpfs on /dev/shm", []specs.Mount{{Destination: "/dev/shm", Type: "tmpfs", Source: "tmpfs"}}, "", true},
		{"minimal /dev", []specs.Mount{{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"}}, "", true},
		{"bind of itself", []specs.Mount{{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind"}}}, "", false},
		{"minimal /dev, then the host's shm", []specs.Mount{
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/dev/shm", Source: "/dev/shm", Options: []string{"bind"}}}, "", false},
		{"bind of elsewhere", []specs.Mount{{Destination: "/dev/shm", Source: "/scratch/shm", Options: []string{"bind"}}}, "", true},
		{"rootfs", nil, "/srv/rootfs", true},
		{"rootfs with the host's shm", []specs.Mount{{Destination: "/dev/shm", Source: "/dev/shm", Options: []string{"rbind"}}}, "/srv/rootfs", false},
		{"tmpfs elsewhere", []specs.Mount{{Destination: "/dev/pts", Type: "devpts"}}, "", false},
	} {
		o := mpiPreset(0, 0, true, "job")
		o.Mounts = c.mounts
		if c.root != "" {
			o.Root = &specs.Root{Path: c.root}
		}
		if got := has(CheckMPI(o, nil), "mounts", "/dev/shm is private"); got != c.private {
			t.Errorf("%s: private /dev/shm reported %v, want %v", c.name, got, c.private)
		}
	}

	o = mpiPreset(0, 0, true, "job")
	o.Mounts = []specs.Mount{{Destination: "/tmp", Type: "tmpfs"}}
	if !has(CheckMPI(o, nil), "mounts", "/tmp is private") {
		t.Error("private /tmp not reported")
	}
	if has(CheckMPI(o, []string{"TMPDIR=/scratch"}), "mounts", "/tmp") {
		t.Error("private /tmp reported although TMPDIR points elsewhere")
	}
	o.ClearEnv = true
	if !has(CheckMPI(o, []string{"TMPDIR=/scratch"}), "mounts", "/tmp") {
		t.Error("ClearEnv drops TMPDIR: private /tmp should be reported")
	}

	o = mpiPreset(0, 0, true, "job")
	o.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	if !has(CheckMPI(o, nil), "seccomp", "process_vm_readv") {
		t.Error("a profile without CMA not reported")
	}
	o.Seccomp = MPISeccomp(o.Seccomp)
	if ps := CheckMPI(o, nil); len(ps) != 0 {
		t.Errorf("MPISeccomp profile: %v", ps)
	}
}

func TestMPILauncher(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, ""},
		{[]string{"OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_RANK=1"}, "mpirun"},
		{[]string{"OMPI_COMM_WORLD_SIZE=1"}, ""},
		{[]string{"SLURM_STEP_NUM_TASKS=2", "SLURM_PROCID=0"}, "srun"},
		{[]string{"SLURM_STEP_NUM_TASKS=1", "SLURM_PROCID=0"}, ""},
		{[]string{"SLURM_STEP_NUM_TASKS=1", "PMIX_RANK=0", "PMIX_NAMESPACE=slurm.pmix.3.0"}, ""},
		{[]string{"PMI_SIZE=8", "PMI_RANK=3"}, "Hydra"},
		{[]string{"PMIX_RANK=0", "PMIX_NAMESPACE=prterun-x"}, "PMIx"},
	} {
		got, ok := MPILauncher(c.env)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("MPILauncher(%q) = %q, %v; want %q", c.env, got, ok, c.want)
		}
	}
}

func TestMPIEnv(t *testing.T) {
	got := MPIEnv([]string{"PATH=/bin", "SLURM_JOB_ID=3", "PMIX_RANK=0", "OMPI_MCA_btl=self", "TMPDIR=/scratch", "HOME=/root", "broken"})
	want := []string{"SLURM_JOB_ID=3", "PMIX_RANK=0", "OMPI_MCA_btl=self", "TMPDIR=/scratch"}
	if !slices.Equal(got, want) {
		t.Errorf("MPIEnv = %q, want %q", got, want)
	}
}
