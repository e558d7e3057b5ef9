#!/usr/bin/env bash
# The quality gates of `make test`, in order: ruff (lint + format), mypy --strict,
# snakefmt, snakemake --lint (tools/snakemake_lint.py), a dry run of the demo config, then the whole pytest suite
# (unit, integration with PostGIS and the CDSE emulator, end-to-end demo runs,
# and the local SLURM run).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "ruff check"
ruff check src tests workflow/scripts bench tools
step "ruff format --check"
ruff format --check src tests workflow/scripts bench tools
step "mypy --strict (src/benpipe)"
mypy --strict src/benpipe
step "snakefmt --check"
snakefmt --check Snakefile workflow/rules/
step "demo world (for lint and dry run)"
[[ -f resources/demo-world/manifest.json ]] || benpipe -q demo-world --out resources/demo-world
step "snakemake --lint"
python tools/snakemake_lint.py --configfile config/demo.yaml
step "snakemake dry run (demo config)"
snakemake -n -q rules --configfile config/demo.yaml --cores 2
[[ -n "${LINT_ONLY:-}" ]] && exit 0

step "pytest"
exec pytest -q --durations=15 "$@"
