#!/usr/bin/env bash
# kiln serve under load, on loopback only and bounded in time:
# - the chart request: 100 runs x 100,000 points of one metric at a width of 1,600 (goal: an
#   answer in under 50 ms), cold and warm, beside what sending every point would cost;
# - 100 clients following a running study's live events for 60 s: the delay from a point's log
#   time to its arrival (goal: p99 under 250 ms), and the server's CPU and memory.
#
#   scripts/bench-serve.sh [CLIENTS] [SECONDS]
#
# KILN_BENCH_PROFILE=dev measures the test build instead of the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-100}
seconds=${2:-60}
profile=${KILN_BENCH_PROFILE:-release}
if [ "$profile" = dev ]; then dir=debug; else dir=release; fi
cargo build --quiet --profile "$profile" --bin kiln --benches -p kiln-core -p kiln-server
cargo build --quiet --profile "$profile" --bin kiln
kiln=$(realpath "${CARGO_TARGET_DIR:-target}/$dir/kiln")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== the chart request"
cargo bench --quiet --profile "$profile" -p kiln-core --bench large_project -- "$work/charts.kiln" 100 100000 >/dev/null
cargo bench --quiet --profile "$profile" -p kiln-server --bench chart_request -- "$work/charts.kiln" train/batch_loss 100 1600

echo "== $clients clients following a study"
"$kiln" new "$work/class.kiln" >/dev/null
"$kiln" import "$work/class.kiln" assets/penguins.csv >/dev/null
python3 scripts/load_serve.py "$kiln" "$work/class.kiln" "$clients" "$seconds"
