#!/usr/bin/env bash
# Performance goal P1: Kiln's grid search against scikit-learn's GridSearchCV, side by side in
# one run on this machine: the penguins, the same 8-trial grid of MLPs (scripts/bench-space.toml),
# 50 epochs each, one trial at a time, on the CPU. Then Kiln's training throughput on flex and
# on wgpu (a real GPU, or lavapipe where there is none).
#
#   scripts/bench-search.sh
#
# scikit-learn is installed from PyPI into .bench/venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
need_python_packages sklearn=scikit-learn

# KILN_BENCH_PROFILE=dev measures a dev build (dependencies optimised, Kiln's own code not):
# quicker to build, and a floor for the release figures.
profile=${KILN_BENCH_PROFILE:-release}
if [ "$profile" = dev ]; then dir=debug; else dir=release; fi
# One build for the binary and the benchmarks, so both share one feature set (dev-dependencies
# included) and nothing is built twice.
cargo build --quiet --profile "$profile" --workspace --bins --benches
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kiln=${CARGO_TARGET_DIR:-target}/$dir/kiln
$kiln new "$work/bench.kiln" >/dev/null
$kiln import "$work/bench.kiln" assets/penguins.csv >/dev/null
start=$(date +%s.%N)
kiln_out=$($kiln train "$work/bench.kiln" --dataset penguins --model mlp --space scripts/bench-space.toml --device cpu)
end=$(date +%s.%N)
kiln_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
kiln_best=$(echo "$kiln_out" | sed -n 's/.*val\/macro_f1 = \([0-9.]*\).*/\1/p')
best_run=$(echo "$kiln_out" | sed -n 's/^best trial: [0-9]* (run \([0-9]*\)).*/\1/p')
kiln_test=$(echo "$kiln_out" | sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p')
sk_out=$("$venv/bin/python" scripts/sklearn_search.py assets/penguins.csv)
sk_seconds=$(echo "$sk_out" | sed -n 's/^SKLEARN_SECONDS=//p')
sk_best=$(echo "$sk_out" | sed -n 's/^SKLEARN_BEST=//p')

printf 'kiln grid search (%s build): 8 trials in %.2f s (whole command, import excluded); best val macro-F1 %s, its test accuracy %s (run %s)\n' "$profile" "$kiln_seconds" "$kiln_best" "$kiln_test" "$best_run"
echo "$sk_out" | grep -v '^SKLEARN_'
awk -v k="$kiln_seconds" -v s="$sk_seconds" 'BEGIN { printf "wall-time ratio scikit-learn / kiln: %.2fx (above 1: kiln is faster)\n", s / k }'
echo
cargo bench --quiet --profile "$profile" --workspace --bench train_throughput
