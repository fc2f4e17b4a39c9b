# Sourced by the MLflow scripts: starts a real MLflow tracking server on a free loopback port,
# with a SQLite store and artifact serving in a temporary folder, waits (at most two minutes)
# until it answers, and stops it when the calling script exits.
#
#   start_mlflow_server      sets mlflow_port and mlflow_url
#
# The server accepts only the Host 127.0.0.1:PORT, so that http://localhost:PORT reaches it by a
# name it refuses (MLflow 3's DNS-rebinding check), for the test of that refusal.

start_mlflow_server() {
  mlflow_dir=$(mktemp -d)
  mlflow_port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mlflow_url="http://127.0.0.1:$mlflow_port"
  # A process group of its own, so that its workers stop with it.
  MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true setsid "$venv/bin/mlflow" server \
    --host 127.0.0.1 --port "$mlflow_port" \
    --backend-store-uri "sqlite:///$mlflow_dir/mlflow.db" \
    --artifacts-destination "$mlflow_dir/artifacts" \
    --allowed-hosts "127.0.0.1:$mlflow_port" \
    >"$mlflow_dir/server.log" 2>&1 &
  mlflow_pid=$!
  trap stop_mlflow_server EXIT
  local started=$SECONDS
  until "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$mlflow_url/health', timeout=2)" 2>/dev/null; do
    if ! kill -0 "$mlflow_pid" 2>/dev/null; then
      echo "the MLflow server did not start:" >&2
      cat "$mlflow_dir/server.log" >&2
      exit 1
    fi
    if [ $((SECONDS - started)) -gt 120 ]; then
      echo "the MLflow server did not answer within 120 s:" >&2
      tail -20 "$mlflow_dir/server.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "MLflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)') serving at $mlflow_url (ready in $((SECONDS - started)) s)"
}

stop_mlflow_server() {
  if [ -n "${mlflow_pid:-}" ]; then
    kill -TERM -- "-$mlflow_pid" 2>/dev/null || true
    wait "$mlflow_pid" 2>/dev/null || true
  fi
  rm -rf "${mlflow_dir:-/nonexistent}"
}
