#!/usr/bin/env bash
# The web dashboard of `kiln serve` in a real browser: Debian's headless Chromium driven through
# WebDriver (chromedriver), all on 127.0.0.1. Opens the dashboard with the printed token, sorts
# the runs table, starts a study and watches its curve grow live, cancels it, opens a model card
# and switches to the dark theme; the screenshots go to OUT (default: target/dashboard).
#
#   scripts/check-dashboard.sh [OUT]
#
# Installs chromium and chromium-driver with apt-get when they are missing (as root or through
# sudo); the Rust tests never need them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${CARGO_TARGET_DIR:-target}/dashboard}
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  echo "installing chromium and chromium-driver ..."
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "${CARGO_TARGET_DIR:-target}/debug/kiln" ]; then
  cargo build -q --bin kiln
fi
kiln=$(realpath "${CARGO_TARGET_DIR:-target}/debug/kiln")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A project with a finished study, a registered model and its evaluation: the lab's.
"$kiln" lab "$work/class.kiln" --target "$work/repo" >"$work/lab.log"
python3 scripts/check_dashboard.py "$kiln" "$work/class.kiln" "$out"
echo "screenshots: $out"
