#!/usr/bin/env bash
# Stop what scripts/slurm-up.sh started (slurmd, slurmctld, munged) and
# remove its state directory, slurm.conf and cgroup.conf, and the /slurm
# cgroups that proctrack/cgroup and task/cgroup left behind.
set -uo pipefail

conf=/etc/slurm/slurm.conf
cgconf=/etc/slurm/cgroup.conf
marker='# written by nsfork scripts/slurm-up.sh'
ours() { [ -e "$1" ] && grep -qF "$marker" "$1"; }
if ! ours "$conf"; then
  # A cgroup.conf of ours without its slurm.conf (an interrupted run).
  ours "$cgconf" && rm -f "$cgconf"
  echo "slurm-down: no Slurm of slurm-up.sh here"
  exit 0
fi
dir=$(sed -n 's/^# state: //p' "$conf")

# stop DAEMON PIDFILE: TERM, then KILL after 10 s.
stop() {
  local pid
  pid=$(cat "$2" 2>/dev/null) || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "slurm-down: $1 ($pid) ignored SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
}
# Every job left over, of any user.
squeue -h -o %i 2>/dev/null | xargs -r scancel --quiet 2>/dev/null
# One slurmd per node (slurmd.NODE.pid; slurmd.pid before there were two).
for f in "$dir"/slurmd*.pid; do stop slurmd "$f"; done
stop slurmctld "$dir/slurmctld.pid"
stop munged /run/munge/munged.pid
# slurmstepd removes a step's cgroups when the step ends and slurmd the
# /slurm tree when it stops, but a killed daemon leaves them. Remove what is
# left, deepest first; a directory that still holds a process stays and is
# reported (the kernel refuses to remove it).
# Slurm's root is /slurm, or /slurm_NODE (a slurmd built with
# --enable-multiple-slurmd, as Debian's is), for every node of slurm.conf.
dirs=(/sys/fs/cgroup/*/slurm)
for n in $(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$conf"); do
  dirs+=(/sys/fs/cgroup/*/slurm_"$n")
done
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  [ -d "$d" ] && echo "slurm-down: $d is still in use; left in place" >&2
done
ours "$cgconf" && rm -f "$cgconf"
rm -f "$conf"
case "$dir" in /tmp/nsfork-slurm.*) rm -rf "$dir" ;; esac
echo "slurm-down: stopped"
