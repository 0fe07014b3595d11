#!/usr/bin/env bash
# Builds the project and runs the demo (examples/demo.py): the simulator (arsimsrc) through
# artokenize ! arpredict ! ardetokenize with the shipped model, compared with reality by
# arcompare. It prints the PSNR of each prediction and a summary against a copy-last-frame
# baseline, and writes demo-out/side-by-side.webm (real left, predicted right) and
# demo-out/strip.png. With a display it also opens a window in which the arrow keys drive the
# world (close it or press Ctrl-C to stop); --headless (the default without a display) does not.
#
# Usage: examples/demo.sh [demo.py options: --model CARD --frames N --seed S --out DIR
#                          --headless --fps F --scale K --frame-pngs]
# The model is models/demo/sim64.yaml (trained on the simulator); until it is present the
# demo falls back to the random test model tests/fixtures/sim/tiny-sim.yaml, which exercises
# the whole path but has learned nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
export GST_PLUGIN_PATH="$PWD/build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
args=("$@")
if [[ " $* " != *" --model"* && ! -f models/demo/sim64.yaml ]]; then
  echo "== models/demo/sim64.yaml is not here yet: using the random tests/fixtures/sim/tiny-sim.yaml"
  args=(--model tests/fixtures/sim/tiny-sim.yaml "${args[@]}")
fi
# Debian's PyGObject (python3-gi, from install-deps) belongs to /usr/bin/python3.
exec /usr/bin/python3 examples/demo.py "${args[@]}"
