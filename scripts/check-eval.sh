#!/usr/bin/env bash
# Cross-checks Kiln's evaluation and fairness metrics (kiln-core eval) against scikit-learn and
# Fairlearn on seeded binary and multiclass cases, every value within 1e-9.
#
#   scripts/check-eval.sh
#
# scikit-learn and Fairlearn are installed from PyPI into .bench/venv on first use; the tests
# never need them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
need_python_packages sklearn=scikit-learn fairlearn=fairlearn
# CI has just built every example with `cargo test`.
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "${CARGO_TARGET_DIR:-target}/debug/examples/eval_metrics" ]; then
  cargo build -q --workspace --exclude kiln-remote --example eval_metrics
fi
exec "$venv/bin/python" scripts/check_eval.py "$@"
