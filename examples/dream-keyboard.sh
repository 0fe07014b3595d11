#!/usr/bin/env bash
# Dreaming driven by the keyboard: the arrow keys in the video window become actions
# (arpredict's default key map); after a few real frames prime the context the model rolls
# out on its own predictions, one per tick of the (live) source.
# Usage: examples/dream-keyboard.sh MODEL.yaml
set -euo pipefail
model=$(realpath "${1:?usage: $0 MODEL.yaml}")
here=$(cd "$(dirname "$0")/.." && pwd)
export GST_PLUGIN_PATH="$here/build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec gst-launch-1.0 \
  videotestsrc is-live=true pattern=smpte ! video/x-raw,framerate=10/1 \
  ! videoconvert ! videoscale ! artokenize model="$model" \
  ! arpredict model="$model" dream=true temperature=0.8 top-k=50 \
  ! ardetokenize model="$model" ! videoconvert ! videoscale \
  ! video/x-raw,width=512,height=512 ! autovideosink
