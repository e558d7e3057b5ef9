#!/usr/bin/env bash
# `make demo`: build the demo world (if missing), serve it with the local CDSE
# emulator, run the whole pipeline on config/demo.yaml, build the HTML report,
# and print where everything is (the QA page included).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
WORLD=resources/demo-world
PORT=${BENPIPE_DEMO_PORT:-8765}
CORES=${CORES:-all}

if [[ ! -f "$WORLD/manifest.json" ]]; then
  echo "demo: generating the demo world in $WORLD"
  benpipe demo-world --out "$WORLD"
fi

mkdir -p logs
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "demo: port $PORT is busy; set BENPIPE_DEMO_PORT to a free port and edit cdse.* in config/demo.yaml" >&2
  exit 1
fi
echo "demo: starting the CDSE emulator on 127.0.0.1:$PORT (log: logs/cdse-emulator.log)"
benpipe cdse-emulator --root "$WORLD" --port "$PORT" > logs/cdse-emulator.log 2>&1 &
EMULATOR=$!
trap 'kill "$EMULATOR" 2>/dev/null || true; wait "$EMULATOR" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$EMULATOR" 2>/dev/null || { cat logs/cdse-emulator.log >&2; exit 1; }
  sleep 0.1
done

snakemake --configfile config/demo.yaml --cores "$CORES"
snakemake --configfile config/demo.yaml --report results/report.html > logs/report.log 2>&1

echo
echo "benpipe demo finished."
echo "  dataset:             $PWD/results/dataset"
echo "  release archives:    $PWD/results/release"
echo "  verification report: $PWD/results/verification.md"
echo "  HTML report:         $PWD/results/report.html"
echo "  QA page (offline):   $PWD/results/qa/index.html"
