#!/usr/bin/env bash
# Metric points logged per second, side by side in one run: Kiln's RunLogger and log_metrics
# against MLflow's log_batch into an MLflow SQLite tracking store, on this machine.
#
#   scripts/bench-metrics.sh [POINTS]      (default 200000)
#
# MLflow is installed from PyPI into .bench/venv on first use; the tests never need it.
set -euo pipefail
cd "$(dirname "$0")/.."
points=${1:-200000}
. scripts/venv.sh
need_python_packages mlflow=mlflow
echo "MLflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)'), $points points each"

kiln_out=$(cargo bench --quiet --workspace --exclude kiln-remote --bench metric_logging -- "$points")
mlflow_out=$("$venv/bin/python" scripts/mlflow_log_batch.py "$points")
echo "$kiln_out" | grep -v '^KILN_'
echo "$mlflow_out" | grep -v '^MLFLOW_'

value() { echo "$1" | sed -n "s/^$2=//p"; }
logger=$(value "$kiln_out" KILN_LOGGER_POINTS_PER_SEC)
batch=$(value "$kiln_out" KILN_BATCH_POINTS_PER_SEC)
mlflow=$(value "$mlflow_out" MLFLOW_POINTS_PER_SEC)
awk -v l="$logger" -v b="$batch" -v m="$mlflow" 'BEGIN {
  printf "ratio RunLogger / MLflow log_batch:       %.1fx\n", l / m
  printf "ratio log_metrics(1000) / MLflow log_batch: %.1fx\n", b / m
}'
