#!/usr/bin/env bash
# Serves a Triton model repository written by `kiln export` with a real Triton Inference Server
# (the tritonserver inside PyPI's nvidia-pytriton, on 127.0.0.1 only) and checks it against
# `kiln predict`: Triton accepts every config.pbtxt and lacks only the onnxruntime backend, and a
# stand-in that runs each version's model.onnx in onnxruntime through Triton's Python backend
# serves, at batch sizes 1 and 8, the labels and probabilities (within 1e-4) kiln predict wrote.
#
#   scripts/check-triton.sh          # kiln lab, a challenger, both exported side by side, and a
#                                    # text model (raw text in, tokenised in the graph), checked
#   scripts/check-triton.sh --repo REPO --model NAME --rows ROWS.csv \
#       --expected 1=PREDICTIONS-1.csv [--expected 2=PREDICTIONS-2.csv ...]
#
# The packages are pinned and installed from PyPI into .bench/venv-triton on first use (about
# 440 MB; tritonserver and its libraries come in the nvidia-pytriton wheel); the tests never
# need them. No GPU is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.bench/venv-triton
packages=(nvidia-pytriton==0.7.0 "tritonclient[http]==2.73.0" onnxruntime==1.31.1 numpy==1.26.4)
if ! "$venv/bin/python" -c "import pytriton, tritonclient.http, onnxruntime, numpy" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "installing ${packages[*]} into $venv ..."
  "$venv/bin/pip" install --quiet "${packages[@]}"
fi

if [ $# -gt 0 ]; then
  exec "$venv/bin/python" scripts/check_triton.py "$@"
fi

# --- Kiln side: produced by kiln commands ---
# The lab's project and export (the servable model: raw columns in, species out), a second
# version registered as @challenger, and both exported into one repository that serves them
# side by side; every answer is checked against `kiln predict` on the raw penguins.
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "${CARGO_TARGET_DIR:-target}/debug/kiln" ]; then
  cargo build -q --bin kiln
fi
kiln=$(realpath "${CARGO_TARGET_DIR:-target}/debug/kiln")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=assets/penguins.csv
"$kiln" lab "$work/lab.kiln" --target "$work/lab-repo" >"$work/lab.log"
tail -n 4 "$work/lab.log"
"$kiln" register "$work/lab.kiln" 1 --model penguins --alias challenger
"$kiln" predict "$work/lab.kiln" penguins@champion "$rows" --out "$work/champion.csv"
"$kiln" predict "$work/lab.kiln" penguins@challenger "$rows" --out "$work/challenger.csv"
"$kiln" export "$work/lab.kiln" penguins@champion penguins@challenger --target "$work/repo"

echo "== the lab's export, as kiln lab wrote it"
"$venv/bin/python" scripts/check_triton.py --repo "$work/lab-repo" --model penguins \
  --rows "$rows" --expected 1="$work/champion.csv"
echo "== champion and challenger served side by side"
"$venv/bin/python" scripts/check_triton.py --repo "$work/repo" --model penguins \
  --rows "$rows" --expected 1="$work/champion.csv" --expected 2="$work/challenger.csv"

# Two text models: the export reads the raw text (STRING) and tokenises it in the graph, with
# ONNX's StringNormalizer and TfIdfVectorizer and onnxruntime's Tokenizer; one with the default
# TF-IDF (the vectorizer weighs by the idf, mode TFIDF), one with 1- and 2-grams and sublinear
# counts (mode TF, then arithmetic). Every fortune, and a few texts a client may send (empty,
# unknown words only, accents, mixed case), go through Triton and must score as kiln predict.
"$venv/bin/python" - "$work/texts.csv" <<'PY'
import csv, sys
from pathlib import Path
texts = [p.read_text(encoding="utf-8") for p in sorted(Path("assets/fortunes").glob("*/*.txt"))]
texts += ["", "zzzq xxyyz", "THE Doctor, THE doctor; the DOCTOR!", "Élan vital: ÇA VA? naïve café",
          "don't stop_me now 42 x", "law and order, " * 40]
with open(sys.argv[1], "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["text"])
    w.writerows([t] for t in texts)
PY
for variant in default ngrams; do
  project="$work/text-$variant.kiln"
  "$kiln" new "$project" >/dev/null
  "$kiln" import "$project" assets/fortunes >/dev/null
  printf 'learning_rate = 0.02\nbatch_size = 32\nepochs = 8\nhidden = [16]\n' >"$work/text-space.toml"
  if [ "$variant" = ngrams ]; then
    printf '[tfidf]\nmin_df = 2\nngram_range = [1, 2]\nsublinear_tf = true\n' >>"$work/text-space.toml"
  fi
  "$kiln" train "$project" --dataset fortunes --model mlp --space "$work/text-space.toml" | tail -n 1
  "$kiln" register "$project" 1 --model fortunes --alias champion
  "$kiln" export "$project" fortunes@champion --target "$work/text-repo-$variant"
  "$kiln" predict "$project" fortunes@champion "$work/texts.csv" --out "$work/texts-$variant.csv"
  echo "== a text model ($variant TF-IDF), raw text in"
  "$venv/bin/python" scripts/check_triton.py --repo "$work/text-repo-$variant" --model fortunes \
    --rows "$work/texts.csv" --expected 1="$work/texts-$variant.csv" --require-all-scored
done
