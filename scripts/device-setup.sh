# Sourced by scripts/device-check.sh and scripts/device-quick.sh (on a lent NVIDIA machine, in
# the repository root with the build folder carried): a log folder, its summary and say(),
# the source root arbench was configured in (it finds models/bench_torch.py there), the
# validation layer from .gl/deps, and the logs packed into $OUT/$1.tar.gz (default
# /tmp/device-out) on exit.
set -u
out=${OUT:-/tmp/device-out}
logs=$(mktemp -d)
mkdir -p "$out"
src=$(sed -n 's/.*-DAR_SOURCE_ROOT=\\*"\([^"\\]*\)\\*".*/\1/p' build/build.ninja | head -1)
[ -n "$src" ] && [ ! -e "$src" ] && mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"
export VK_LAYER_PATH=/opt/ardeps/usr/share/vulkan/explicit_layer.d
export AR_PYTHON=${AR_PYTHON:-python3}
summary=$logs/summary.txt
say() { echo "[${SECONDS}s] $*" | tee -a "$summary"; }   # elapsed seconds: sizes the next run
archive=$1
finish() { tar -C "$logs" -czf "$out/$archive.tar.gz" . ; cp "$summary" "$out/summary.txt"; }
trap finish EXIT
nvidia-smi -L | tee -a "$summary"
