#!/usr/bin/env bash
# Builds Kiln's Debian packages with cargo-deb (offline: everything comes from the workspace):
#   kiln         the workbench: the `kiln` command in /usr/bin, the desktop entry, the icons at
#                every size, the `.kiln` file type and the README ([package.metadata.deb] in
#                Cargo.toml);
#   kiln-remote  Kiln Remote, the desktop client for kiln serve: `kiln-remote` in /usr/bin, its
#                desktop entry and icons ([package.metadata.deb] in src-tauri/Cargo.toml). Its
#                build needs WebKitGTK's headers (libwebkit2gtk-4.1-dev); the package depends on
#                the WebKitGTK runtime, which dpkg-shlibdeps names.
#
#   scripts/package-deb.sh                 # both, release builds, into target/debian/
#   scripts/package-deb.sh --package kiln  # the workbench only (no WebKit needed)
#   scripts/package-deb.sh --package kiln --profile dev --no-build
#                                          # package the test build as it is (CI's package check)
#
# cargo-deb is installed (pinned, --locked) with `cargo install` on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
out=${CARGO_TARGET_DIR:-target}/debian
build=()
packages=(kiln kiln-remote)
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-build) build=(--no-build); shift ;;
    --package) packages=("$2"); shift 2 ;;
    *) echo "usage: scripts/package-deb.sh [--package kiln|kiln-remote] [--profile release|dev|remote-check] [--no-build] [--out DIR]" >&2; exit 2 ;;
  esac
done
version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$version"; then
  echo "installing cargo-deb $version ..."
  cargo install --quiet --locked cargo-deb --version "$version"
fi
if ! command -v dpkg-shlibdeps >/dev/null; then
  # dpkg-dev works out the libraries the binary needs (depends = "$auto").
  . scripts/lib/apt.sh
  apt_install dpkg-dev
fi
mkdir -p "$out"
for package in "${packages[@]}"; do
  case $package in
    kiln|kiln-remote) ;;
    *) echo "scripts/package-deb.sh: no package '$package' (kiln or kiln-remote)" >&2; exit 2 ;;
  esac
  cargo deb --locked -p "$package" --profile "$profile" "${build[@]}" --output "$out"
done
ls -l "$out"/*.deb
