#!/usr/bin/env bash
# Start, stop or inspect the throwaway single-node SLURM cluster used by the
# `slurm` tests (munged + slurmctld + slurmd; needs root and slurm-wlm).
#   .ci/slurm-cluster.sh up|down|status [cluster_dir]
# `down` stops only what an `up` started; see tests/e2e/slurm_cluster.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
[ -x "$PY" ] || PY=python3
exec "$PY" tests/e2e/slurm_cluster.py "${1:-status}" ${2:+"$2"}
