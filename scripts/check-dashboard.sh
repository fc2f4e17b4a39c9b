#!/usr/bin/env bash
# The web dashboard of `kiln serve` in real browsers: Debian's headless Chromium and Firefox ESR,
# each driven through WebDriver (chromedriver, geckodriver), all on 127.0.0.1. Opens the
# dashboard with the printed token, sorts the runs table, starts a study and watches its curve
# grow live, cancels it, opens a model card and switches to the dark theme; the screenshots go
# to OUT (default: target/dashboard).
#
#   scripts/check-dashboard.sh [OUT]
#   KILN_BROWSERS=chromium scripts/check-dashboard.sh    # one browser only
#
# Installs chromium, chromium-driver and firefox-esr with apt-get when they are missing (as root
# or through sudo), and geckodriver (pinned, --locked) with cargo install; the Rust tests never
# need them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${CARGO_TARGET_DIR:-target}/dashboard}
read -r -a browsers <<<"${KILN_BROWSERS:-chromium firefox}"
need=()
for b in "${browsers[@]}"; do
  case $b in
    chromium) command -v chromium >/dev/null && command -v chromedriver >/dev/null || need+=(chromium chromium-driver) ;;
    firefox) command -v firefox-esr >/dev/null || need+=(firefox-esr) ;;
    *) echo "scripts/check-dashboard.sh: no browser '$b' (chromium or firefox)" >&2; exit 2 ;;
  esac
done
if [ ${#need[@]} -gt 0 ]; then
  . scripts/lib/apt.sh
  apt_install "${need[@]}"
fi
if [[ " ${browsers[*]} " == *" firefox "* ]]; then
  geckodriver_version=0.37.1
  if ! geckodriver --version 2>/dev/null | grep -q "$geckodriver_version"; then
    echo "installing geckodriver $geckodriver_version ..."
    cargo install --quiet --locked geckodriver --version "$geckodriver_version"
  fi
fi
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "${CARGO_TARGET_DIR:-target}/debug/kiln" ]; then
  cargo build -q --bin kiln
fi
kiln=$(realpath "${CARGO_TARGET_DIR:-target}/debug/kiln")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for b in "${browsers[@]}"; do
  # A project with a finished study, a registered model and its evaluation: the lab's.
  rm -rf "$work/$b"
  mkdir -p "$work/$b"
  "$kiln" lab "$work/$b/class.kiln" --target "$work/$b/repo" >"$work/$b/lab.log"
  python3 scripts/check_dashboard.py "$kiln" "$work/$b/class.kiln" "$out" "$b"
done
echo "screenshots: $out"
