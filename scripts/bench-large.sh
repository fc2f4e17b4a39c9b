#!/usr/bin/env bash
# Performance goal: a project ten times larger still opens at once. Writes a project of 10,000
# runs and 10,000,000 metric points through Kiln's own API (core/benches/large_project.rs), then
# times, side by side in one run:
# - `kiln info` and `kiln runs` on it, whole commands (goal: under 0.3 s each);
# - the window (ui/benches/large_window.rs): open to the runs table (goal: under 0.5 s), and
#   the frames of scrolling, sorting, filtering, and ticking 100 runs to draw their curves
#   (goal: under 16 ms each).
#
#   scripts/bench-large.sh [RUNS] [POINTS_PER_RUN]      (defaults 10000 1000)
#
# KILN_LARGE_PROJECT=PATH keeps the project there (written once, reused after).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000}
per_run=${2:-1000}
profile=${KILN_BENCH_PROFILE:-release}
if [ "$profile" = dev ]; then dir=debug; else dir=release; fi
cargo build --quiet --profile "$profile" --workspace --exclude kiln-remote --bins --benches
kiln=${CARGO_TARGET_DIR:-target}/$dir/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project=${KILN_LARGE_PROJECT:-$work/large.kiln}
if [ ! -e "$project" ]; then
  cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench large_project -- "$project" "$runs" "$per_run"
fi

# The best of five runs of a whole command, in seconds.
best_of() {
  local best=999 start end t
  for _ in 1 2 3 4 5; do
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b < a) ? b : a }')
  done
  echo "$best"
}
printf 'kiln info: %.3f s (budget 0.3 s)\n' "$(best_of "$kiln" info "$project")"
printf 'kiln runs: %.3f s (budget 0.3 s)\n' "$(best_of "$kiln" runs "$project")"
cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench large_window -- "$project"
