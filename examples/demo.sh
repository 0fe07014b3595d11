#!/usr/bin/env bash
# Builds the project and runs the demo. Until the elements and the demo model land, the demo
# is the op benchmark on the chosen Vulkan device.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
exec ./build/tests/bench-ops "$@"
