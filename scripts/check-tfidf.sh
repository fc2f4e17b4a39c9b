#!/usr/bin/env bash
# Cross-checks Kiln's TF-IDF vectorizer against scikit-learn's TfidfVectorizer on the
# assets/fortunes corpus: same vocabulary and order, idf within 1e-9, values within 1e-6.
#
#   scripts/check-tfidf.sh
#
# scikit-learn is installed from PyPI into .bench/venv on first use; the tests never need it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
need_python_packages sklearn=scikit-learn
exec "$venv/bin/python" scripts/check_tfidf.py "$@"
