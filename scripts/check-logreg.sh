#!/usr/bin/env bash
# Cross-checks Kiln's logistic regression solver against scikit-learn's LogisticRegression on
# the shipped datasets and scikit-learn's own: coefficients within 1e-3 relative, the same
# predictions.
#
#   scripts/check-logreg.sh
#
# scikit-learn is installed from PyPI into .bench/venv on first use; the tests never need it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
need_python_packages sklearn=scikit-learn
# CI has just built every example with `cargo test`.
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "${CARGO_TARGET_DIR:-target}/debug/examples/logreg_fit" ]; then
  cargo build -q --workspace --exclude kiln-remote --example logreg_fit
fi
exec "$venv/bin/python" scripts/check_logreg.py "$@"
