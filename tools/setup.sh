#!/usr/bin/env bash
# Idempotent set-up: system packages (apt) and the Python environment.
# Without root it prints the exact commands to run instead of failing silently.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export DEBIAN_FRONTEND=noninteractive

# PostgreSQL + PostGIS (embedded database), zstd/curl (benchmarks, checks),
# slurm-wlm + munge (the local SLURM test of `make test`), chromium +
# chromium-driver (the browser test of the QA page and the report: Playwright
# drives /usr/bin/chromium; no browser is ever downloaded).
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 zstd curl slurm-wlm slurmctld slurmd munge
  chromium chromium-driver)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these system packages are missing: ${missing[*]}" >&2
    echo "setup: run as root (or ask your administrator):" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: benpipe needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

stamp="$VENV/.benpipe-setup"
# setup.sh is hashed too: a change in how the environment is built rebuilds it.
want=$(cat requirements.lock pyproject.toml tools/setup.sh | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV/bin/benpipe" ]]; then
  exit 0
fi
echo "setup: creating the Python environment in $VENV"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip >/dev/null
"$VENV/bin/python" -m pip install -q --disable-pip-version-check uv
# --compile-bytecode: every Snakemake job is a fresh interpreter; without .pyc
# files (uv writes none by default) each one recompiles its imports (~2 s).
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install -q --compile-bytecode -r requirements.lock
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install -q --no-deps -e .
# uv compiles only what it installs: an environment made before keeps none.
"$VENV/bin/python" -m compileall -q -j 0 "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null 2>&1 || true
echo "$want" > "$stamp"
echo "setup: done ($("$VENV/bin/benpipe" --version))"
