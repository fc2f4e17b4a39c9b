#!/usr/bin/env bash
# Kiln's MLflow sync against a real MLflow server on loopback (tests/mlflow.rs): the lab's
# project pushed and read back through MLflow's own Python client, a second push that creates
# nothing, a push killed with SIGKILL and completed, a pull of runs Python logged, and refusals.
#
#   scripts/check-mlflow.sh
#
# MLflow (the full package: mlflow-skinny has no server) is installed from PyPI into .bench/venv
# on first use; the plain test suite never needs it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
. scripts/mlflow-server.sh
need_python_packages mlflow=mlflow
start_mlflow_server
export KILN_MLFLOW_URL="$mlflow_url"
export KILN_MLFLOW_FOREIGN_URL="http://localhost:$mlflow_port"
export KILN_MLFLOW_PYTHON="$PWD/$venv/bin/python"
cargo test --workspace --locked --test mlflow -- --ignored
