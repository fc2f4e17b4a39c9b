#!/usr/bin/env bash
# A drift report side by side in one run: Kiln's (the tests of `kiln monitor`) against Evidently
# 0.7's DataDriftPreset, on the same seeded data (20 numeric and 5 categorical columns), with
# the results compared and the ratio of the times.
#
#   scripts/bench-drift.sh [ROWS]      (default 1000000 rows in the reference and in the batch)
#
# Evidently is installed from PyPI into .bench/venv-drift on first use (scripts/check-drift.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
venv=.bench/venv-drift
if ! "$venv/bin/python" -c "import evidently" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet evidently==0.7.23 "pandas<3" scipy==1.17.1
fi
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
"$venv/bin/python" scripts/bench_drift.py write "$data" "$rows"
echo "Evidently $("$venv/bin/python" -c 'import evidently; print(evidently.__version__)'), $rows rows a side, $(nproc) cores"
kiln_out=$(cargo bench --quiet --workspace --exclude kiln-remote --bench drift_report -- "$data")
echo "$kiln_out" | grep -v '^KILN_'
evidently_out=$("$venv/bin/python" scripts/bench_drift.py evidently "$data")
echo "$evidently_out" | grep -v '^EVIDENTLY_'
value() { echo "$1" | sed -n "s/^$2=//p"; }
awk -v k="$(value "$kiln_out" KILN_SECONDS)" -v e="$(value "$evidently_out" EVIDENTLY_SECONDS)" \
  'BEGIN { printf "ratio Evidently / Kiln: %.1fx faster\n", e / k }'
