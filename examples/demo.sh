#!/usr/bin/env bash
# Builds the project and runs the demo: a video source through artokenize ! arpredict !
# ardetokenize, written side by side with reality (left: real, right: predicted for the same
# time) to demo-out/side-by-side.webm and demo-out/frame-*.png, then the op benchmark.
#
# The shipped model is tests/fixtures/tiny/tiny-gpt.yaml: a tiny model with random weights
# (16x16 frames). It exercises the whole live path; it has learned nothing, so its predictions
# are noise. A trained demo model comes with the simulator (see the issue tracker).
# Usage: examples/demo.sh [MODEL.yaml] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
model=$(realpath "${1:-tests/fixtures/tiny/tiny-gpt.yaml}")
frames=${2:-60}
out=demo-out
mkdir -p "$out"
rm -f "$out"/frame-*.png
export GST_PLUGIN_PATH="$PWD/build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
echo "== pipeline: $frames frames through $(basename "$model") -> $out/"
gst-launch-1.0 -e \
  compositor name=mix sink_1::xpos=128 ! tee name=o \
    o. ! queue ! videoconvert ! vp8enc deadline=1 ! webmmux ! filesink location="$out/side-by-side.webm" \
    o. ! queue ! videoconvert ! pngenc ! multifilesink location="$out/frame-%05d.png" \
  videotestsrc num-buffers="$frames" pattern=ball ! video/x-raw,framerate=15/1 ! tee name=t \
    t. ! queue ! videoscale ! video/x-raw,width=128,height=128 ! mix.sink_0 \
    t. ! queue ! videoconvert ! videoscale ! artokenize model="$model" \
       ! arpredict model="$model" timestamp-mode=target seed=1 \
       ! ardetokenize model="$model" ! videoconvert ! videoscale method=nearest-neighbour \
       ! video/x-raw,width=128,height=128 ! mix.sink_1
echo "== wrote $out/side-by-side.webm and $(ls "$out"/frame-*.png | wc -l) PNG frames"
echo "== op benchmark"
exec ./build/tests/bench-ops --reps 5
