#!/usr/bin/env bash
# Side by side: the input (left) and the model's prediction of it (right), both at the
# model's resolution scaled to 256x256, for a fixed action (default: the model's zero action).
# Usage: examples/preview.sh MODEL.yaml [ACTION, e.g. 2 or "0.5,-0.2"]; AR_VIDEO_SINK replaces
# autovideosink.
set -euo pipefail
model=$(realpath "${1:?usage: $0 MODEL.yaml [ACTION]}")
action=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
export GST_PLUGIN_PATH="$here/build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec gst-launch-1.0 \
  compositor name=mix sink_1::xpos=256 ! videoconvert ! ${AR_VIDEO_SINK:-autovideosink} \
  videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=10/1 ! tee name=t \
  t. ! queue ! videoscale ! video/x-raw,width=256,height=256 ! mix.sink_0 \
  t. ! queue ! videoconvert ! videoscale ! artokenize model="$model" \
     ! arpredict model="$model" ${action:+"action=$action"} timestamp-mode=input \
     ! ardetokenize model="$model" ! videoconvert ! videoscale \
     ! video/x-raw,width=256,height=256 ! mix.sink_1
