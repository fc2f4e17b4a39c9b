#!/usr/bin/env bash
# Takes docs/screenshot.png: the real `kiln` window under Xvfb (wgpu on lavapipe where there is
# no GPU), showing the Train screen during a study on the shipped text corpus, its live charts
# fitted to their data. The study is started as a user would, with Ctrl+Enter on the Train
# screen's form, and the page scrolled down to the charts with the mouse wheel.
#
# KILN_SHOT_TAB=runs (or data, evaluate, models) shows that screen of the lab's project instead.
#
# Needs xvfb, xdotool and imagemagick (apt-get install xvfb xdotool imagemagick) and a built
# `kiln` (KILN_BIN, default target/debug/kiln).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KILN_BIN:-${CARGO_TARGET_DIR:-target}/debug/kiln}
out=${KILN_SHOT_OUT:-docs/screenshot.png}
tab=${KILN_SHOT_TAB:-train}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$tab" = train ]; then
  "$bin" new "$work/lab.kiln" >/dev/null
  "$bin" import "$work/lab.kiln" assets/fortunes >/dev/null
else
  "$bin" lab "$work/lab.kiln" >/dev/null
fi
mkdir -p "$work/config/kiln"
printf '{"tab": "%s", "theme": "%s"}\n' "$tab" "${KILN_SHOT_THEME:-dark}" \
  >"$work/config/kiln/ui.json"

export XDG_CONFIG_HOME="$work/config"
xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
  set -e
  '$bin' '$work/lab.kiln' &
  pid=\$!
  sleep ${KILN_SHOT_OPEN:-6}
  kill -0 \$pid  # the window is still up: it did not fail to start
  if [ '$tab' = train ]; then
    # No window manager runs under Xvfb: give the window the keyboard's focus by hand.
    wid=\$(xdotool search --name '^Kiln\$' | head -1)
    xdotool windowfocus --sync \$wid
    # A longer study than the form's default, without early stopping, so that it is still
    # running when the picture is taken: Epochs 200, Patience empty (the fields' places on a
    # 1280 x 800 window).
    xdotool mousemove 330 170 click 1 sleep 0.5 key ctrl+a sleep 0.2 type --delay 100 200
    sleep 0.5
    xdotool mousemove 615 222 click 1 sleep 0.5 key ctrl+a sleep 0.2 key BackSpace
    sleep 0.5
    xdotool mousemove 700 300
    xdotool key ctrl+Return
    sleep ${KILN_SHOT_WAIT:-6}
    xdotool mousemove 700 500 click --repeat 4 --delay 50 5
    # The pointer out of the way, so that no hover label covers a chart.
    xdotool mousemove 75 700
    sleep 2
  fi
  import -window root '$out'
  kill \$pid
"
echo "wrote $out"
