#!/usr/bin/env bash
# Stop what scripts/slurm-up.sh started (slurmd, slurmctld, munged) and
# remove its state directory and slurm.conf.
set -uo pipefail

conf=/etc/slurm/slurm.conf
marker='# written by nsfork scripts/slurm-up.sh'
[ -e "$conf" ] && grep -qF "$marker" "$conf" || { echo "slurm-down: no Slurm of slurm-up.sh here"; exit 0; }
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
stop slurmd "$dir/slurmd.pid"
stop slurmctld "$dir/slurmctld.pid"
stop munged /run/munge/munged.pid
rm -f "$conf"
case "$dir" in /tmp/nsfork-slurm.*) rm -rf "$dir" ;; esac
echo "slurm-down: stopped"
