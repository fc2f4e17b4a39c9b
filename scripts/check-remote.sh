#!/usr/bin/env bash
# Kiln Remote (src-tauri/) as a user runs it: its unit tests, then the app itself under Xvfb with
# a D-Bus session and a notification daemon, driven through WebDriver (WebKitWebDriver) against a
# real `kiln serve` on 127.0.0.1. See scripts/check_remote.py for what it checks; screenshots and
# logs go to OUT (default: target/remote).
#
#   scripts/check-remote.sh [OUT]
#   scripts/check-remote.sh --installed [OUT]
#       packages the build as a .deb (scripts/package-deb.sh), installs it with dpkg, checks the
#       app installed in /usr/bin instead, and removes the package (CI does this)
#
# Installs WebKitGTK's headers and driver, Xvfb, D-Bus, dunst, xdotool and xwd with apt-get when
# they are missing (as root or through sudo). Nothing else in Kiln needs them.
set -euo pipefail
cd "$(dirname "$0")/.."
installed=0
if [ "${1:-}" = --installed ]; then installed=1; shift; fi
out=${1:-${CARGO_TARGET_DIR:-target}/remote}
target=${CARGO_TARGET_DIR:-target}
packages=(libwebkit2gtk-4.1-dev webkit2gtk-driver xvfb xauth dbus dbus-bin dunst xdotool x11-apps netpbm)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  . scripts/lib/apt.sh
  apt_install --no-install-recommends "${missing[@]}"
fi
if [ "${KILN_SKIP_BUILD:-}" != 1 ] || [ ! -x "$target/debug/kiln" ]; then
  cargo build -q --locked --bin kiln
fi
# The remote-check profile leaves the Tauri and WebKitGTK tree unoptimised: 3.5 minutes to build
# from nothing on 2 cores instead of 11.
cargo test -q --locked --profile remote-check -p kiln-remote
cargo build -q --locked --profile remote-check -p kiln-remote
kiln=$(realpath "$target/debug/kiln")
remote=$(realpath "$target/remote-check/kiln-remote")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $installed = 1 ]; then
  scripts/package-deb.sh --package kiln-remote --profile remote-check --no-build >/dev/null
  deb=$(ls -t "$target"/debian/kiln-remote_*.deb | head -n 1)
  dpkg -i "$deb" >/dev/null
  trap 'rm -rf "$work"; dpkg -r kiln-remote >/dev/null' EXIT
  remote=/usr/bin/kiln-remote
  test "$(command -v kiln-remote)" = "$remote"
  test -f /usr/share/applications/kiln-remote.desktop
  test -f /usr/share/icons/hicolor/256x256/apps/kiln-remote.png
  dpkg-query -W -f='${Depends}\n' kiln-remote | grep -q libwebkit2gtk-4.1
  echo "installed $(basename "$deb"): $(dpkg-query -W -f='${Depends}' kiln-remote)"
fi
# Two projects, each with a finished study and a registered model: the lab's.
"$kiln" lab "$work/class.kiln" --target "$work/repo" >"$work/lab.log"
"$kiln" lab "$work/mine.kiln" --target "$work/repo2" >"$work/lab2.log"
mkdir -p "$out"
xvfb-run -a -s "-screen 0 1400x900x24" \
  dbus-run-session -- python3 scripts/check_remote.py "$kiln" "$remote" "$work/class.kiln" "$work/mine.kiln" "$out"
echo "screenshots and logs: $out"
