#!/usr/bin/env bash
# Cross-checks Kiln's monitoring statistics (kiln-core monitor) against Evidently, scipy, river
# and statsmodels: every drift value and decision, KS p-values, DDM and ADWIN flags, McNemar and
# the two-proportion z-test.
#
#   scripts/check-drift.sh
#
# The libraries are pinned and installed from PyPI into .bench/venv-drift on first use (apart
# from the other cross-checks' environment: Evidently needs pandas 2); the tests never need them.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.bench/venv-drift
packages=(evidently==0.7.23 "pandas<3" scipy==1.17.1 river==0.26.1 statsmodels==0.15.0)
if ! "$venv/bin/python" -c "import evidently, river, statsmodels, scipy" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "installing ${packages[*]} into $venv ..."
  "$venv/bin/pip" install --quiet "${packages[@]}"
fi
# CI has just built every example with `cargo test`.
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "${CARGO_TARGET_DIR:-target}/debug/examples/drift_stats" ]; then
  cargo build -q --workspace --exclude kiln-remote --example drift_stats
fi
exec "$venv/bin/python" scripts/check_drift.py "$@"
