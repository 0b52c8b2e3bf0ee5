#!/usr/bin/env bash
# npm run check:slurm: brings up a one-node Slurm cluster from Debian's packages in a temporary folder (munged,
# slurmctld, slurmd as background processes, no systemd), runs dist/scripts/check-slurm-sweep.js against it, and stops
# exactly the daemons it started, on success or failure. Needs root (as in CI) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)

if [ "$(id -u)" -ne 0 ]; then
  echo "check:slurm: must run as root (it installs packages and starts slurmd)" >&2
  exit 2
fi
missing=0
for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel; do command -v "$tool" >/dev/null 2>&1 || missing=1; done
if [ "$missing" -eq 1 ]; then
  echo "check:slurm: installing slurmctld slurmd slurm-client munge from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

work=$(mktemp -d /tmp/backdoor-check-slurm-XXXXXX)
chmod 755 "$work"
pids=()

stop_daemons() {
  local status=$?
  # Jobs first: a task's processes belong to slurmstepd, which outlives slurmd.
  if [ -n "${SLURM_CONF:-}" ] && [ "${#pids[@]}" -ge 2 ]; then
    scancel --full --quiet --user=root >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do
      [ -z "$(squeue --noheader 2>/dev/null)" ] && break
      sleep 1
    done
  fi
  # Exactly the pids this script started, newest first.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "check:slurm: FAILED (exit $status); logs kept in $work" >&2
  fi
  echo "check:slurm: daemons stopped; wall time $(($(date +%s) - started)) s" >&2
  exit "$status"
}
trap stop_daemons EXIT
trap 'exit 130' INT TERM

host=$(hostname -s)
cpus=$(nproc)
# Ports of their own, so a cluster already on the machine (default ports 6817/6818) is left alone.
ctld_port=$((20000 + ($$ % 5000) * 2))
slurmd_port=$((ctld_port + 1))
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/log"
chmod 711 "$work/munge"

mungekey --create --keyfile="$work/munge/munge.key"
munged --foreground --force --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" \
  >"$work/log/munged.out" 2>&1 &
pids+=($!)

cat >"$work/slurm.conf" <<EOF
ClusterName=backdoorcheck
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"

for _ in $(seq 1 50); do [ -S "$work/munge/munge.socket" ] && break; sleep 0.1; done
slurmctld -D >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D >"$work/log/slurmd.out" 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  state=$(sinfo --noheader --format=%T 2>/dev/null || true)
  [ "$state" = "idle" ] && break
  sleep 0.5
done
if [ "$state" != "idle" ]; then
  echo "check:slurm: the node did not come up (state: ${state:-none}); see $work/log" >&2
  exit 1
fi
echo "check:slurm: one-node cluster up ($host, $cpus CPUs, slurm $(sinfo --version | cut -d' ' -f2)) in $(($(date +%s) - started)) s" >&2

node "$repo/dist/scripts/check-slurm-sweep.js" --work "$work"
