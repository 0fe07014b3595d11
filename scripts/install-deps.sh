#!/usr/bin/env bash
# Installs the Debian 12 packages this project needs, when run as root and any is missing.
# Sourced or run by tests/run.sh and examples/demo.sh.
set -euo pipefail

AR_DEB_PACKAGES=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-validationlayers
  libyaml-dev libjson-glib-dev meson ninja-build pkg-config gcc
  valgrind python3
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
)

missing=()
for p in "${AR_DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "Missing Debian packages (run as root to install them): ${missing[*]}" >&2
    exit 1
  fi
fi
