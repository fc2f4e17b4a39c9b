#!/usr/bin/env bash
# Pushing to an MLflow server, side by side in one run against one server: `kiln mlflow push`
# (Project::push_to_mlflow) against MLflow's own Python client logging the same data with
# log_batch in batches of 1000. Two rounds each, alternated.
#
#   scripts/bench-mlflow.sh [RUNS POINTS]     (default 100 runs x 10000 points)
#   ROUNDS=1 scripts/bench-mlflow.sh          one round each instead of two
#   KILN_BENCH_PROFILE=dev scripts/...        a debug build of Kiln (the server is the bottleneck)
#
# MLflow is installed from PyPI into .bench/venv on first use; the tests never need it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
points=${2:-10000}
. scripts/venv.sh
. scripts/mlflow-server.sh
need_python_packages mlflow=mlflow
profile=${KILN_BENCH_PROFILE:-release}
cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench mlflow_push --no-run
launch_mlflow_server bench
await_mlflow_server bench
export KILN_MLFLOW_URL="$bench_url"

kiln=()
python=()
value() { echo "$1" | sed -n "s/^$2=//p"; }
for round in $(seq 1 "${ROUNDS:-2}"); do
  out=$(cargo bench --quiet --profile "$profile" --workspace --exclude kiln-remote --bench mlflow_push -- "$runs" "$points")
  echo "$out" | grep -v '^KILN_'
  kiln+=("$(value "$out" KILN_PUSH_POINTS_PER_SEC)")
  out=$("$venv/bin/python" scripts/mlflow_push_bench.py "$bench_url" "$runs" "$points")
  echo "$out" | grep -v '^MLFLOW_'
  python+=("$(value "$out" MLFLOW_PUSH_POINTS_PER_SEC)")
done
awk -v k="${kiln[*]}" -v p="${python[*]}" 'BEGIN {
  n = split(k, ks, " "); split(p, ps, " ")
  for (i = 1; i <= n; i++) { sk += ks[i]; sp += ps[i] }
  printf "mean: Kiln %.0f points/s, MLflow log_batch %.0f points/s; ratio Kiln / MLflow: %.2fx\n", sk / n, sp / n, sk / sp
}'
