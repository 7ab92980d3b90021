// Package cgroups puts an nsfork sandbox into a cgroup of its own and
// applies the OCI linux.resources limits to it, on cgroup v1 and v2. It is
// the parent side only: the fork package calls New before it starts the
// child, passes FD to CLONE_INTO_CGROUP on v2 (or calls Add), reads Stats
// after the child exits and calls Destroy.
//
// # Where the cgroup goes
//
// By default the sandbox's cgroup is a new child, "nsfork-<pid>-<random>",
// of the caller's own cgroup in each hierarchy it needs (on v1: memory,
// cpu, cpuacct and pids for accounting, and any other controller a limit
// needs; on v2 the one hierarchy), so under Slurm it nests inside the job
// step's cgroup and its usage is charged to the job. In every other v1
// hierarchy, the freezer above all, the sandbox stays in the caller's own
// cgroup: Slurm's proctrack/cgroup looks for a step's processes in the
// step's own freezer cgroup, not below it. A relative
// Config.Path is taken under the caller's own cgroup, an absolute one from
// the root of each hierarchy. On v2, controllers are enabled in
// cgroup.subtree_control only at and below the deepest existing ancestor of
// the new cgroup, never higher.
//
// # Version
//
// A host whose /sys/fs/cgroup is cgroup2 is v2. A host with v1 controller
// hierarchies is v1 even when a cgroup2 is mounted beside them (hybrid):
// limits go to the v1 hierarchies, and a limit whose controller is bound to
// the cgroup2 side only is refused with errors.ErrUnsupported.
//
// # Unprivileged callers
//
// Without delegation, asking for limits fails with an error that wraps
// both ErrNoDelegation and unix.EACCES and says how to get delegation. On
// v2 the caller's cgroup usually holds the caller, and the no-internal-
// process rule then forbids enabling controllers for its children; that is
// reported with ErrNoDelegation and unix.EBUSY and what to do about it.
// Config.BestEffort turns these failures into entries of Cgroup.Skipped.
//
// # How
//
// The package writes cgroupfs itself, with no cgroup library: on v1 a
// directory per hierarchy (cpuset.cpus and cpuset.mems copied from the
// parent first), the limit files in the order the kernel needs (memory
// before memory+swap, cpu period before quota, devices.deny "a" before the
// device rules); on v2 one directory, controllers enabled in
// cgroup.subtree_control, the limit files (cpu.weight from shares with the
// linear formula runc and crun use, "max" where the kernel wants it,
// io.bfq.weight when BFQ offers it, else io.weight), and the OCI device
// rules compiled to an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program, attached
// with BPF_F_ALLOW_MULTI (see devfilter.go: deny by default, the last
// matching rule wins for each of read, write and mknod). A device rule
// that cannot be applied is an error even with BestEffort. Statistics are
// read from the files (memory.peak or memory.max_usage_in_bytes,
// memory.events or memory.oom_control, cpu.stat or cpuacct, pids.*).
// Every write that fails is a *sandbox.SetupError (step "cgroup") naming
// the controller, the file, the value and the errno. cgroup v1 and v2 are
// two types (v1_linux.go, v2_linux.go) behind one internal interface.
//
// # Verified
//
// On a Debian 12 VM, kernel 6.18, cgroup v1 hybrid (v1 cpu, cpuacct,
// cpuset, memory, pids, blkio, freezer, devices; cgroup2 with only hugetlb),
// as root, by this package's tests:
//   - v1: a 32 MiB memory limit OOM-kills a child that touches 128 MiB,
//     and Stats reports OOMKilled, MemoryLimitHit and a MemoryPeak at the
//     limit; a shell fork bomb stops at pids limit 20, Stats reports
//     PidsLimitHit and the host still forks; quota 50000/100000 keeps two
//     spinning threads under 0.7 CPU; cpu.shares, cfs quota/period and
//     cpuset.cpus are written; the child's /proc/<pid>/cgroup is below the
//     caller's cgroup in every hierarchy; relative and absolute paths;
//     Destroy kills what is left and removes every directory, twice
//     without error; device rules (deny all, the defaults, deny writing
//     /dev/zero) let /dev/null and reading /dev/zero through and fail
//     writing /dev/zero and reading /dev/kmsg with EPERM; a value the
//     kernel refuses names file, value and errno and leaves nothing; uid 65534 gets ErrNoDelegation+EACCES with the hint,
//     and BestEffort succeeds with the limit skipped; Cleanup removes a
//     cgroup whose creator exited and keeps a live one.
//   - v2, on a private cgroup2 mount in a new mount namespace: creation,
//     hugetlb.2MB.max (the only controller cgroup2 holds here),
//     CLONE_INTO_CGROUP through FD, Add, Stats, Destroy through
//     cgroup.kill, and the eBPF device filter with the same device
//     checks as on v1. memory, pids and cpu writes on a real cgroup2 are not
//     verified on this host (v1 holds those controllers); they are
//     verified against a fake cgroupfs: memory.max, memory.swap.max
//     (memory+swap minus memory), memory.low, cpu.weight, cpu.max,
//     cpuset.cpus/mems, pids.max, io.weight or io.bfq.weight,
//     hugetlb.<size>.max, cgroup.subtree_control, the no-internal-process
//     and no-delegation errors, and Stats parsing.
package cgroups
