#!/usr/bin/env bash
# Predictions to files: PNG frames (pred-00000.png, ...) and a WebM video (pred.webm).
# Usage: examples/record.sh MODEL.yaml [FRAMES] [OUTDIR]
set -euo pipefail
model=$(realpath "${1:?usage: $0 MODEL.yaml [FRAMES] [OUTDIR]}")
frames=${2:-100}
out=${3:-.}
here=$(cd "$(dirname "$0")/.." && pwd)
export GST_PLUGIN_PATH="$here/build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
mkdir -p "$out"
gst-launch-1.0 -e \
  videotestsrc num-buffers="$frames" pattern=ball ! video/x-raw,framerate=10/1 \
  ! videoconvert ! videoscale ! artokenize model="$model" \
  ! arpredict model="$model" timestamp-mode=target seed=1 \
  ! ardetokenize model="$model" ! tee name=t \
  t. ! queue ! videoconvert ! pngenc ! multifilesink location="$out/pred-%05d.png" \
  t. ! queue ! videoconvert ! vp8enc deadline=1 ! webmmux ! filesink location="$out/pred.webm"
