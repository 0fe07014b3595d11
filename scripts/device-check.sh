#!/usr/bin/env bash
# One run on a lent NVIDIA machine (see README "Speed"): op and golden tests on the GPU with the
# validation layer, then arbench against PyTorch CUDA on both bench cards, then a per-op profile.
# Run from the repository root after the line scripts/gpu-prep prints (loaders in .gl/), with
# the build folder carried. Logs go to $OUT (or /tmp/device-out); the summary is printed last.
set -u
out=${OUT:-/tmp/device-out}
mkdir -p "$out"
# arbench finds models/bench_torch.py under the source root it was built in.
src=$(sed -n 's/.*-DAR_SOURCE_ROOT="\([^"]*\)".*/\1/p' build/build.ninja | head -1)
[ -n "$src" ] && [ ! -e "$src" ] && mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"
export VK_LAYER_PATH=/opt/ardeps/usr/share/vulkan/explicit_layer.d
export AR_PYTHON=${AR_PYTHON:-python3}
summary=$out/summary.txt
: > "$summary"
nvidia-smi -L | tee -a "$summary"
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' | tee -a "$summary"

groups=${AR_DEVICE_GROUPS:-eltwise matmul conv norm softmax rope embed attention codebook sample runtime}
for g in $groups; do
  AR_VULKAN_VALIDATE=1 G_DEBUG=fatal-criticals timeout 60 build/tests/test-ops "$g" > "$out/ops-$g.log" 2>&1
  echo "ops $g rc=$? $(grep -c 'vulkan validation' "$out/ops-$g.log") validation msgs" | tee -a "$summary"
done
AR_VULKAN_VALIDATE=1 timeout 60 build/tests/model/test-golden tests/fixtures/tiny > "$out/golden.log" 2>&1
echo "golden rc=$?" | tee -a "$summary"

bench() {   # name card frames warmup
  timeout 150 build/tools/arbench --frames "$3" --warmup "$4" --torch --torch-device cuda "$2" \
    > "$out/bench-$1.log" 2>&1
  echo "bench $1 rc=$?" >> "$summary"
  grep -v '^\[' "$out/bench-$1.log" | tail -n 30 >> "$summary"
  AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 2 --warmup 1 "$2" > "$out/profile-$1.log" 2>&1
}
bench iris-small models/bench/iris-small.yaml ${AR_DEVICE_FRAMES:-40} 5
PYTHONUNBUFFERED=1 timeout 60 python3 models/bench_torch.py --frames 30 --warmup 5 --device cuda --no-graphs \
  models/bench/iris-small.yaml > "$out/torch-eager-iris-small.log" 2>&1
echo "torch eager iris-small rc=$?: $(grep -E '^torch_(fps|info)' "$out/torch-eager-iris-small.log" | tr '\n' ' ')" >> "$summary"
bench large models/bench/large.yaml ${AR_DEVICE_FRAMES:-20} 3
echo "==== summary"
cat "$summary"
