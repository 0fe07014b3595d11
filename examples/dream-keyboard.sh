#!/usr/bin/env bash
# Dreaming driven by the keyboard: the model rolls out on its own predictions, one per tick of
# a live arsimsrc, after a few real frames prime the context. The arrow keys in the window
# travel upstream to arsimsrc (policy none), which attaches them to its frames as actions
# (Up = (0, -1): image coordinates, as arpredict's own arrow keys), so the dream follows them.
# For models with continuous 2D actions, as the simulator's.
# Usage: examples/dream-keyboard.sh [MODEL.yaml]   (default models/demo/sim64.yaml, else the
#        random tests/fixtures/sim/tiny-sim.yaml); AR_VIDEO_SINK replaces autovideosink.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
default=$here/models/demo/sim64.yaml
[ -f "$default" ] || default=$here/tests/fixtures/sim/tiny-sim.yaml
model=$(realpath "${1:-$default}")
export GST_PLUGIN_PATH="$here/build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec gst-launch-1.0 \
  arsimsrc is-live=true policy=none ! video/x-raw,framerate=10/1 \
  ! artokenize model="$model" \
  ! arpredict model="$model" dream=true temperature=0.8 top-k=50 \
  ! ardetokenize model="$model" ! videoconvert ! videoscale method=nearest-neighbour \
  ! video/x-raw,width=512,height=512 ! ${AR_VIDEO_SINK:-autovideosink}
