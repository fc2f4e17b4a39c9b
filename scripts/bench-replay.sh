#!/usr/bin/env bash
# Replay throughput side by side in one run: `kiln replay` (shadow mode) scoring a traffic file
# through two versions of a model, each version's ONNX graph run in tract on one thread, against
# onnxruntime batch-scoring the same graphs on the same rows from Python, with its default
# threading (every core) and with one thread. Two models, both servable graphs (raw columns in):
# penguins, and a TF-IDF text model whose graph tokenises the raw text itself (onnxruntime runs
# its text operators natively, Kiln through its own implementation of them for tract). Both
# sides score in the same batches (4096 rows, fewer for the wide TF-IDF block).
#
#   scripts/bench-replay.sh [ROWS]      (default 1000000 traffic rows per model)
#
# core/benches/replay_throughput.rs trains both models, writes the graphs and the traffic and
# times Kiln; scripts/bench_replay.py times onnxruntime and prints the table. onnxruntime and NumPy
# are pinned and installed from PyPI into .bench/venv-replay on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
venv=.bench/venv-replay
packages=(onnxruntime==1.31.1 numpy==1.26.4)
if ! "$venv/bin/python" -c "import onnxruntime, numpy" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "installing ${packages[*]} into $venv ..."
  "$venv/bin/pip" install --quiet "${packages[@]}"
fi
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
echo "Kiln: $rows rows per model, $(nproc) cores"
cargo bench --quiet --workspace --exclude kiln-remote --bench replay_throughput -- "$data" "$rows"
echo
"$venv/bin/python" scripts/bench_replay.py "$data"
