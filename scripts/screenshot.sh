#!/usr/bin/env bash
# Takes docs/screenshot.png: the real `kiln` window under Xvfb (wgpu on lavapipe where there is
# no GPU), showing the Runs screen of a project with the lab's trained study.
#
# Needs xvfb and imagemagick (apt-get install xvfb imagemagick) and a built `kiln`
# (KILN_BIN, default target/debug/kiln).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KILN_BIN:-${CARGO_TARGET_DIR:-target}/debug/kiln}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" lab "$work/lab.kiln" >/dev/null
mkdir -p "$work/config/kiln"
printf '{"tab": "%s", "theme": "%s"}\n' "${KILN_SHOT_TAB:-runs}" "${KILN_SHOT_THEME:-dark}" \
  >"$work/config/kiln/ui.json"

export XDG_CONFIG_HOME="$work/config"
xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
  set -e
  '$bin' '$work/lab.kiln' &
  pid=\$!
  sleep ${KILN_SHOT_WAIT:-8}
  kill -0 \$pid  # the window is still up: it did not fail to start
  import -window root '${KILN_SHOT_OUT:-docs/screenshot.png}'
  kill \$pid
"
echo "wrote ${KILN_SHOT_OUT:-docs/screenshot.png}"
