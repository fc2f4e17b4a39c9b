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
# The whole workspace, so that features unify as in every other build (no second build of the
# dependency graph).
cargo build --quiet --profile "$profile" --workspace --exclude kiln-remote --bins --bench large_project --bench chart_request --bench follow_load
kiln=$(realpath "${CARGO_TARGET_DIR:-target}/$dir/kiln")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== the chart request"
cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench large_project -- "$work/charts.kiln" 100 100000 >/dev/null
cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench chart_request -- "$work/charts.kiln" train/batch_loss 100 1600

echo "== $clients clients following a study"
"$kiln" new "$work/class.kiln" >/dev/null
"$kiln" import "$work/class.kiln" assets/penguins.csv >/dev/null
cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench follow_load -- "$kiln" "$work/class.kiln" "$clients" "$seconds"
