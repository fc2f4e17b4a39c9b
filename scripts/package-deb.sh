#!/usr/bin/env bash
# Builds the workbench's Debian package with cargo-deb (offline: everything comes from the
# workspace): the `kiln` command in /usr/bin, the desktop entry, the icons at every size, the
# `.kiln` file type and the README. The metadata is `[package.metadata.deb]` in Cargo.toml.
#
#   scripts/package-deb.sh                 # a release build, into target/debian/
#   scripts/package-deb.sh --profile dev --no-build
#                                          # package the test build as it is (CI's package check)
#
# cargo-deb is installed (pinned, --locked) with `cargo install` on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
out=${CARGO_TARGET_DIR:-target}/debian
build=()
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-build) build=(--no-build); shift ;;
    *) echo "usage: scripts/package-deb.sh [--profile release|dev] [--no-build] [--out DIR]" >&2; exit 2 ;;
  esac
done
version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$version"; then
  echo "installing cargo-deb $version ..."
  cargo install --quiet --locked cargo-deb --version "$version"
fi
if ! command -v dpkg-shlibdeps >/dev/null; then
  # dpkg-dev works out the libraries the binary needs (depends = "$auto").
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null
fi
mkdir -p "$out"
cargo deb --locked --profile "$profile" "${build[@]}" --output "$out"
ls -l "$out"/*.deb
