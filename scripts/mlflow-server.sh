# Sourced by the MLflow scripts: real MLflow tracking servers on free loopback ports, each with a
# SQLite store and artifact serving in a temporary folder, stopped when the calling script exits.
#
#   launch_mlflow_server NAME [ARGS...]   starts one (extra ARGS go to `mlflow server`) and sets
#                                         NAME_url, NAME_port and NAME_pid
#   await_mlflow_server NAME              waits (at most two minutes) until it answers
#
# Each server accepts only the Host 127.0.0.1:PORT, so that http://localhost:PORT reaches it by
# a name it refuses (MLflow 3's DNS-rebinding check), for the test of that refusal.

mlflow_pids=()
mlflow_dirs=()

launch_mlflow_server() {
  local name=$1
  shift
  local dir port
  dir=$(mktemp -d)
  port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # A process group of its own, so that its workers stop with it; run in its folder, where the
  # basic-auth app keeps its user database.
  MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true setsid env -C "$dir" "$PWD/$venv/bin/mlflow" server \
    --host 127.0.0.1 --port "$port" \
    --backend-store-uri "sqlite:///$dir/mlflow.db" \
    --artifacts-destination "$dir/artifacts" \
    --allowed-hosts "127.0.0.1:$port" \
    "$@" >"$dir/server.log" 2>&1 &
  mlflow_pids+=($!)
  mlflow_dirs+=("$dir")
  trap stop_mlflow_servers EXIT
  printf -v "${name}_url" '%s' "http://127.0.0.1:$port"
  printf -v "${name}_port" '%s' "$port"
  printf -v "${name}_pid" '%s' "$!"
  printf -v "${name}_log" '%s' "$dir/server.log"
}

await_mlflow_server() {
  local url_var="${1}_url" pid_var="${1}_pid" log_var="${1}_log"
  local url=${!url_var} pid=${!pid_var} log=${!log_var}
  local started=$SECONDS
  until "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$url/health', timeout=2)" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the MLflow server $1 did not start:" >&2
      tail -30 "$log" >&2
      exit 1
    fi
    if [ $((SECONDS - started)) -gt 120 ]; then
      echo "the MLflow server $1 did not answer within 120 s:" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "MLflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)') ($1) serving at $url"
}

stop_mlflow_servers() {
  local pid dir
  for pid in "${mlflow_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for dir in "${mlflow_dirs[@]}"; do
    rm -rf "$dir"
  done
}
