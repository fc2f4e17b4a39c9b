#!/usr/bin/env bash
# Kiln's MLflow sync against real MLflow servers on loopback (tests/mlflow.rs): the lab's
# project pushed and read back through MLflow's own Python client, a second push that creates
# nothing, a push killed with SIGKILL and completed, a pull of runs Python logged, refusals, and
# a server that wants a login (MLflow's basic-auth app).
#
#   scripts/check-mlflow.sh
#
# MLflow (the full package: mlflow-skinny has no server) and Flask-WTF (for the basic-auth app)
# are installed from PyPI into .bench/venv on first use; the plain test suite never needs them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
. scripts/mlflow-server.sh
# The MLflow these tests were written against; bench-mlflow.sh takes the newest.
need_python_packages mlflow=mlflow==3.17.2 flask_wtf=Flask-WTF

# Both start at once; each takes some 20 s.
launch_mlflow_server open
admin_password="kiln-check-$RANDOM$RANDOM"
MLFLOW_AUTH_ADMIN_PASSWORD="$admin_password" MLFLOW_FLASK_SERVER_SECRET_KEY="kiln-check-$RANDOM" \
  launch_mlflow_server login --app-name basic-auth
await_mlflow_server open
await_mlflow_server login

export KILN_MLFLOW_URL="$open_url"
export KILN_MLFLOW_FOREIGN_URL="http://localhost:$open_port"
export KILN_MLFLOW_LOGIN_URL="$login_url"
export KILN_MLFLOW_ADMIN_PASSWORD="$admin_password"
export KILN_MLFLOW_PYTHON="$PWD/$venv/bin/python"
cargo test --workspace --exclude kiln-remote --locked --test mlflow -- --ignored
