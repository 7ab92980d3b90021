package sandbox

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MPI returns options for one rank of an MPI job or one task of a Slurm job
// step, started by mpirun, srun or another MPI launcher: everything that
// keeps MPI at shared-memory speed stays shared, and the rest is isolated.
//
// Shared with the host: the network (ranks reach the PMIx server and each
// other), the pid namespace (OpenMPI's shared-memory transport compares
// pids, and every rank would be pid 1 of its own), the ipc namespace, the
// file system as it is, and with it /dev/shm, /tmp and $TMPDIR, where
// OpenMPI and PMIx keep their session directories and shared-memory
// segments. The environment is kept, so SLURM_*, PMIX_* and OMPI_* reach
// the rank.
//
// Isolated: a new mount namespace in which the system directories (/usr,
// /etc, /boot, /opt, /sys and the writable parts of /proc) are read-only
// and the usual /proc files are masked, a new uts namespace (with the
// host's name), every capability dropped, no_new_privs and RLIMIT_CORE 0.
//
// Every caller gets a new user namespace, needed for the mount namespace
// and so that the rank is never host root. A non-root caller's uid and gid
// are mapped to themselves: the rank runs as the caller's own ids, so munge
// and PMIx authentication, which see the real uid, keep working. A root
// caller's ranks run in a range of unprivileged host ids leased from
// nsfork's pool, one range for all the ranks of a job on the node
// (IDRangeKey from MPIJobKey), so they can share memory with each other and
// with nothing else. MPI launchers running as root keep their session
// directories to root: run the job as a user, as Slurm does (or, for
// trusted code only, add the host's root with HostRoot's identity).
// OpenMPI turns its single-copy CMA transport off between ranks in
// different user namespaces; small messages are not affected.
//
// The seccomp profile is left to the caller; MPISeccomp adds what MPI
// needs to one. CheckMPI reports what breaks MPI in other Options.
func MPI() *Options {
	return mpiPreset(os.Geteuid(), os.Getegid(), RootInInitialUserNS(), MPIJobKey(os.Environ()))
}

// MPIRootless is MPI; it is kept for callers of earlier versions, in which
// MPI gave a root caller no user namespace.
//
// Deprecated: use MPI, which now always has a user namespace.
func MPIRootless() *Options {
	return MPI()
}

// MPIJobKey returns the IDRangeKey that the ranks of one job share: the
// PMIx namespace, the Slurm job and step, or else the parent process (the
// mpirun or orted that starts the ranks on this node).
func MPIJobKey(environ []string) string {
	env := map[string]string{}
	for _, e := range environ {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	switch {
	case env["PMIX_NAMESPACE"] != "":
		return "pmix:" + env["PMIX_NAMESPACE"]
	case env["SLURM_JOB_ID"] != "":
		return "slurm:" + env["SLURM_JOB_ID"] + "." + env["SLURM_STEP_ID"]
	}
	return "ppid:" + strconv.Itoa(os.Getppid())
}

// mpiPreset is MPI for a caller with these ids, host root or not
// (RootInInitialUserNS: root of another user namespace maps its own ids,
// as a user does).
func mpiPreset(euid, egid int, hostRoot bool, key string) *Options {
	o := hardened()
	o.Namespaces = namespaces(specs.UserNamespace, specs.MountNamespace, specs.UTSNamespace)
	if !hostRoot {
		o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: uint32(euid), HostID: uint32(euid), Size: 1}}
		o.GIDMappings = []specs.LinuxIDMapping{{ContainerID: uint32(egid), HostID: uint32(egid), Size: 1}}
		o.User = specs.User{UID: uint32(euid), GID: uint32(egid)}
	} else {
		o.IDRangeKey = key
	}
	// The host's file system read-only, but for what the ranks share,
	// and the host's devices usable (the read-only root is nodev; ranks
	// open /dev/null, GPUs and interconnects as on the host).
	o.Root = &specs.Root{Path: "/", Readonly: true}
	o.Mounts = []specs.Mount{HostDevices(), BindRW("/dev/shm"), BindRW("/tmp")}
	o.ReadonlyPaths = MPIReadonlyPaths()
	o.MaskedPaths = MPIMaskedPaths()
	return o
}

// MPIReadonlyPaths returns the paths the MPI preset makes read-only: the
// system directories and the writable parts of /proc and /sys. Paths that
// do not exist are skipped when the sandbox starts. /tmp, /var/tmp,
// /dev/shm, /run and home directories stay writable.
func MPIReadonlyPaths() []string {
	return []string{
		"/usr", "/etc", "/boot", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
		"/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
}

// MPIMaskedPaths returns the /proc and /sys files the MPI preset hides,
// the list runc masks in a container.
func MPIMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// MPISyscalls are the system calls MPI needs beyond Docker's default
// profile on every kernel: OpenMPI's CMA single-copy transport reads and
// writes the peer rank's memory with them. Denying them costs an error
// message on every large message.
var MPISyscalls = []string{"process_vm_readv", "process_vm_writev"}

// MPISeccomp returns a copy of p that allows MPISyscalls unconditionally:
// they are removed from every other rule and allowed by a rule of their own.
// A nil p (no filter) stays nil.
func MPISeccomp(p *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	if p == nil {
		return nil
	}
	c := *p
	c.Syscalls = nil
	for _, r := range p.Syscalls {
		names := slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return slices.Contains(MPISyscalls, n) })
		if len(names) == 0 {
			continue
		}
		r.Names = names
		c.Syscalls = append(c.Syscalls, r)
	}
	c.Syscalls = append(c.Syscalls, specs.LinuxSyscall{Names: slices.Clone(MPISyscalls), Action: specs.ActAllow})
	return &c
}

// MPIEnvPrefixes are the prefixes of the environment variables that MPI
// launchers, PMI servers and Slurm pass to a rank. The MPI preset keeps the
// whole environment; with a cleared one (ClearEnv) these still have to
// reach the rank, see MPIEnv.
var MPIEnvPrefixes = []string{
	"SLURM_", "SLURMD_", "PMIX_", "PMI_", "OMPI_", "OPAL_", "ORTE_", "PRTE_",
	"HYDRA_", "MPIR_", "MPICH_", "I_MPI_", "UCX_", "FI_", "HWLOC_",
}

// MPIEnv returns the entries of environ (KEY=VALUE) an MPI rank needs from
// its launcher: those with a prefix in MPIEnvPrefixes, and TMPDIR, where
// OpenMPI and PMIx put their session directories.
func MPIEnv(environ []string) []string {
	var out []string
	for _, e := range environ {
		k, _, ok := strings.Cut(e, "=")
		if !ok {
			continue
		}
		if k == "TMPDIR" || slices.ContainsFunc(MPIEnvPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			out = append(out, e)
		}
	}
	return out
}

// MPILauncher reports whether environ (KEY=VALUE entries) is that of one
// rank of a job of more than one rank, and names the launcher: "mpirun"
// (OpenMPI), "srun" (Slurm), "Hydra" (MPICH, Intel MPI) or "PMIx". A
// single-task step (srun -n 1 sandboxrun -- mpirun ...) is not a rank.
func MPILauncher(environ []string) (string, bool) {
	env := map[string]string{}
	for _, e := range environ {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	more := func(k string) bool {
		n, err := strconv.Atoi(env[k])
		return err == nil && n > 1
	}
	switch {
	case more("OMPI_COMM_WORLD_SIZE"):
		return "mpirun", true
	case more("SLURM_STEP_NUM_TASKS"):
		return "srun", true
	case more("PMI_SIZE") || more("MPI_LOCALNRANKS"):
		return "Hydra", true
	case env["PMIX_RANK"] != "" && env["PMIX_NAMESPACE"] != "" && !(env["SLURM_STEP_NUM_TASKS"] == "1"):
		return "PMIx", true
	}
	return "", false
}

// MPIProblem is one way Options break or slow down an MPI rank started
// by a launcher.
type MPIProblem struct {
	// Field is the Options field (OCI name) at fault.
	Field string
	// Fatal problems make MPI fail; the others make it silently slower.
	Fatal bool
	// Msg says what happens and what to do instead.
	Msg string
}

func (p MPIProblem) String() string { return p.Field + ": " + p.Msg }

// CheckMPI reports what in o breaks or slows down an MPI rank started by a
// launcher next to other ranks, each in a sandbox of its own (mpirun -np N
// sandboxrun ..., srun -n N sandboxrun ...): a new pid or network
// namespace, a private /dev/shm or /tmp, a uid mapped to another host uid
// than itself, a seccomp profile that denies MPISyscalls. environ is the
// launcher's environment (os.Environ()), which the rank inherits unless
// o.ClearEnv. MPI() passes. A whole job in one sandbox (sandboxrun --
// mpirun ...) needs none of this.
func CheckMPI(o *Options, environ []string) []MPIProblem {
	var ps []MPIProblem
	add := func(field string, fatal bool, format string, args ...any) {
		ps = append(ps, MPIProblem{field, fatal, fmt.Sprintf(format, args...)})
	}
	if o.NewNamespace(specs.PIDNamespace) {
		add("namespaces", true, "a pid namespace per rank: every rank is pid 1 and OpenMPI's shared-memory transport (vader) crashes comparing pids; share the pid namespace")
	}
	if o.NewNamespace(specs.NetworkNamespace) {
		add("namespaces", true, "a network namespace per rank: MPI_Init cannot reach the PMIx server or the other ranks; share the network")
	}
	if src, private := o.privateDir("/dev/shm"); private {
		add("mounts", false, "/dev/shm is private (%s): OpenMPI silently falls back to TCP, about 45x slower; share the host's /dev/shm", src)
	}
	if src, private := o.privateDir("/tmp"); private && o.envValue("TMPDIR", environ) == "" {
		add("mounts", false, "/tmp is private (%s): the ranks do not share OpenMPI's and PMIx's session directories; share /tmp or set TMPDIR to a shared directory", src)
	}
	if o.NewNamespace(specs.UserNamespace) {
		if host, ok := mapsTo(o.UIDMappings, o.User.UID); ok && o.User.UID != host {
			add("user", false, "uid %d inside is host uid %d: munge and PMIx authentication see the host uid and may refuse the rank; map the uid to itself (as the mpi preset does)", o.User.UID, host)
		}
	}
	if o.Seccomp != nil && !allowsAll(o.Seccomp, MPISyscalls) {
		add("seccomp", false, "the profile does not allow %s: OpenMPI's single-copy transport (CMA) fails on every large message; use the mpi preset's profile", strings.Join(MPISyscalls, " and "))
	}
	return ps
}

// envValue returns the value of key in the rank's environment: o.Env, then
// environ unless o.ClearEnv.
func (o *Options) envValue(key string, environ []string) string {
	lists := [][]string{o.Env}
	if !o.ClearEnv {
		lists = append(lists, environ)
	}
	for _, list := range lists {
		for i := len(list) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(list[i], "="); ok && k == key {
				return v
			}
		}
	}
	return ""
}

// mapsTo returns the host id that id inside maps to.
func mapsTo(ms []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, m := range ms {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID, true
		}
	}
	return 0, false
}

// privateDir reports whether dir inside the sandbox is not the host's dir:
// something other than a bind of the host's own dir is mounted on it or on
// a parent, or the root is another file system that does not bind it. It
// returns what is there instead.
func (o *Options) privateDir(dir string) (string, bool) {
	what, private := "", false
	if o.Root != nil && path.Clean(o.Root.Path) != "/" {
		what, private = "root "+o.Root.Path, true
	}
	for _, m := range o.Mounts {
		d := path.Clean(m.Destination)
		if d != dir && !strings.HasPrefix(dir, d+"/") {
			continue
		}
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		src := path.Clean(m.Source)
		// A bind of the host's dir (or of its parent onto the parent)
		// shares it; anything else on the way hides it.
		if bind && src == d {
			what, private = "", false
			continue
		}
		if bind && d == dir {
			what, private = "bind of "+m.Source, src != dir
			continue
		}
		t := m.Type
		if t == "" {
			t = "mount"
		}
		what, private = t+" on "+d, true
	}
	return what, private
}

// allowsAll reports whether profile p lets every one of names through with
// any arguments.
func allowsAll(p *specs.LinuxSeccomp, names []string) bool {
	for _, n := range names {
		allowed := p.DefaultAction == specs.ActAllow || p.DefaultAction == specs.ActLog
		for _, r := range p.Syscalls {
			if !slices.Contains(r.Names, n) || len(r.Args) > 0 {
				continue
			}
			allowed = r.Action == specs.ActAllow || r.Action == specs.ActLog
			break
		}
		if !allowed {
			return false
		}
	}
	return true
}
