#!/usr/bin/env bash
# Start a small Slurm on this machine for the HPC tests: munged (as the
# munge user), slurmctld, then two slurmd, with a minimal slurm.conf and the
# state, spool, pid and log files under one temporary directory.
#
# Two nodes on this one host (Debian's slurmd is built with multiple-slurmd
# support: `slurmd -N NODE`, one port per node): NODE (the short host name)
# and NODE-2, each its own slurmd with its own port, spool directory, pid
# and log file (%n in slurm.conf). The default partition, debug, holds the
# first node only, so a test that does not name a partition sees one node;
# the partition two holds both, for what needs a task on each of two nodes
# (srun -p two -N2 -n2: Slurm 22.05 runs one --container task per node).
#
#   scripts/slurm-up.sh          # prints the state directory
#   scripts/slurm-down.sh        # stops the daemons and removes it
#
# Needs root and Debian's slurm-wlm, munge and libpmix2 (slurmd must start
# after libpmix2 is installed, or srun --mpi=pmix fails). The config goes to
# /etc/slurm/slurm.conf and /etc/slurm/cgroup.conf, where every client finds
# it; a file there that this script did not write is left alone and the
# script fails.
#
# Processes are tracked with proctrack/cgroup and tasks confined with
# task/cgroup (cgroup v1 forced: on a hybrid host Slurm 22.05's autodetection
# may pick the cgroup2 mount, which holds no controllers). Each step gets
# /slurm_<node>/uid_<uid>/job_<id>/step_<n> in the freezer, cpuset and memory
# hierarchies (memory: one more level, task_<n>), which is what
# integration/slurm_cgroup_test.go checks a sandbox nests in.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "slurm-up: needs root" >&2; exit 1; }
for b in munged slurmctld slurmd srun scontrol; do
  command -v "$b" >/dev/null || { echo "slurm-up: $b missing (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

conf=/etc/slurm/slurm.conf
cgconf=/etc/slurm/cgroup.conf
marker='# written by nsfork scripts/slurm-up.sh'
for f in "$conf" "$cgconf"; do
  if [ -e "$f" ] && ! grep -qF "$marker" "$f"; then
    echo "slurm-up: $f exists and was not written by this script; not touching it" >&2
    exit 1
  fi
done
if [ -e "$conf" ] || [ -e "$cgconf" ]; then
  "$(dirname "$0")/slurm-down.sh" >/dev/null 2>&1 || true
fi

dir=$(mktemp -d /tmp/nsfork-slurm.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/state" "$dir/spool"
chmod 755 "$dir/spool"
host=$(hostname -s)
host2=$host-2
cpus=$(nproc)
# The node's memory in MiB, less 5% for the system: ConstrainRAMSpace
# limits a job that asks for no memory to the node's RealMemory.
mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)

# munged, as the munge user, with its socket where clients look for it.
mkdir -p /run/munge
chown munge:munge /run/munge
chmod 755 /run/munge
[ -s /etc/munge/munge.key ] || mungekey --create
if ! pgrep -u munge -x munged >/dev/null; then
  setpriv --reuid=munge --regid=munge --init-groups -- /usr/sbin/munged
fi

mkdir -p /etc/slurm
cat > "$conf" <<CONF
$marker
# state: $dir
ClusterName=nsfork
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.%n.log
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=30
NodeName=$host NodeHostname=$host Port=6818 CPUs=$cpus RealMemory=$mem State=UNKNOWN
NodeName=$host2 NodeHostname=$host Port=6828 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
PartitionName=two Nodes=$host,$host2 MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF

# ConstrainCores: a step's cpuset holds the CPUs it was given (with
# OverSubscribe=FORCE:8, concurrent jobs share them). ConstrainRAMSpace:
# every step gets a memory cgroup, limited to the node's memory when the
# job asks for none. No device or swap constraints.
cat > "$cgconf" <<CONF
$marker
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
ConstrainDevices=no
CONF

slurmctld -i
slurmd -N "$host"
slurmd -N "$host2"

# Ready when both nodes are idle (or mixed, with leftovers of an earlier
# run). sinfo -N lists a node once per partition it is in.
for _ in $(seq 1 60); do
  if states=$(sinfo -h -N -o '%N %T' 2>/dev/null | sort -u) &&
    [ "$(grep -cE ' (idle|mixed|allocated)$' <<<"$states")" = 2 ] &&
    [ "$(wc -l <<<"$states")" = 2 ]; then
    echo "$dir"
    exit 0
  fi
  sleep 1
done
echo "slurm-up: the nodes did not come up within 60 s:" >&2
sinfo -N >&2 || true
tail -n 20 "$dir/slurmctld.log" "$dir"/slurmd.*.log >&2 || true
exit 1
