#!/usr/bin/env bash
# One run on a lent NVIDIA machine (README, "Speed"): golden and op tests on the GPU with the
# validation layer, arbench against PyTorch CUDA on both bench cards (and with IRIS's context
# policy, --context refresh, after checking PyTorch's static step for it), iris-small recording
# every frame (no replay), per-op profiles, (AR_DEVICE_TORCH_EAGER=1) PyTorch eager, and
# (AR_DEVICE_AB) A/B runs of new kernels against the ones they replaced, and
# (AR_DEVICE_CONV_TILES) tile shapes of the patch convolution, (AR_DEVICE_DECODE_KEYS) split
# sizes of one-token attention, and the fused one-token step against the per-op recording.
# Run from the repository root with the build folder carried, after the line that
# ../shared/tools/gpu-prep.sh prints (Vulkan loader and runtime libraries in .gl/; pass it
# vulkan-validationlayers too). Logs go to $OUT/logs.tar.gz (or /tmp/device-out); a summary
# is printed last.
. "$(dirname "$0")/device-setup.sh" logs
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' | tee -a "$summary"

ops() {   # group timeout
  AR_VULKAN_VALIDATE=1 G_DEBUG=fatal-criticals timeout "$2" stdbuf -oL -eL build/tests/test-ops "$1" \
    > "$logs/ops-$1.log" 2>&1
  say "ops $1 rc=$? $(tail -n 1 "$logs/ops-$1.log") ($(grep -c '^\[vulkan validation' "$logs/ops-$1.log") validation msgs)"
}
AR_VULKAN_VALIDATE=1 timeout 150 build/tests/model/test-golden tests/fixtures/tiny > "$logs/golden.log" 2>&1
say "golden rc=$? $(tail -n 1 "$logs/golden.log")"
ops matmul 120
ops conv 120
ops attention 60

bench() {   # name card frames warmup [env...]; $bench_opts: more arbench options
  local name=$1 card=$2 frames=$3 warmup=$4
  shift 4
  env "$@" timeout 150 build/tools/arbench --frames "$frames" --warmup "$warmup" --torch \
    --torch-device cuda ${bench_opts:-} "$card" > "$logs/bench-$name.log" 2>&1
  say "== bench $name rc=$?"
  grep -E '^one-token steps|fused one-token step is off' "$logs/bench-$name.log" >> "$summary"
  grep -v '^\[' "$logs/bench-$name.log" | tail -n 22 >> "$summary"
}
bench iris-small models/bench/iris-small.yaml 40 5
bench large models/bench/large.yaml 20 3
# IRIS's context policy (arbench --context refresh, both sides): each frame prefills only
# its own tokens. The PyTorch side's static step over the kept cache is checked first.
for c in iris-small large; do
  timeout 120 python3 models/bench_torch.py --check-static --context refresh --device cuda \
    models/bench/$c.yaml > "$logs/check-static-refresh-$c.log" 2>&1
  say "torch static step refresh $c rc=$?: $(tail -n 1 "$logs/check-static-refresh-$c.log")"
done
bench_opts="--context refresh" bench iris-small-refresh models/bench/iris-small.yaml 40 5
bench_opts="--context refresh" bench large-refresh models/bench/large.yaml 12 2
# Ours only: arbench on a card with extra environment, its generate and frame lines summarised.
ours() {   # label card frames [env...]
  local label=$1 card=$2 frames=$3 log=$logs/ours-${1// /-}.log
  shift 3
  env "$@" timeout 60 build/tools/arbench --frames "$frames" --warmup 3 models/bench/$card.yaml \
    > "$log" 2>&1
  say "$label rc=$?: $(grep -E '^(generate|frame) ' "$log" | tr -s ' ' | tr '\n' ' ')"
}
# The fused one-token step (AR_PREDICTOR_FUSED_STEP=1; the GPU default is auto, a trial when
# the predictor is built, which the bench lines above ran) against the per-op recording
# (AR_PREDICTOR_FUSED_STEP=0), alternating; AR_DEVICE_FUSED_STEP=0 skips it. Its correctness on the GPU
# is golden.log's "fused-step" lines (the GPU default there, two per multiprocessor; one on lavapipe).
if [ "${AR_DEVICE_FUSED_STEP:-1}" != 0 ]; then
  for c in iris-small large; do
    frames=40; [ $c = large ] && frames=12
    for round in 1 2; do
      for fused in 0 1; do
        ours "fused step $c $fused round $round" $c $frames AR_PREDICTOR_FUSED_STEP=$fused
      done
    done
  done
  grep -c 'fused-step.* ok$' "$logs/golden.log" | sed 's/^/golden fused-step checks ok: /' | tee -a "$summary"
  grep 'fused-step.*FAIL' "$logs/golden.log" | tee -a "$summary"
  # The step against its C reference, with 1 and several workgroups (the GPU default 128 too).
  ops step 120
  # Time per step of each bench card, 32 steps back to back per replay (the per-op recording:
  # ~770 us on large, H100, session 8 profile), in the configurations below.
  timeout 120 build/tests/bench-ops --only step --f16-only --calls 32 > "$logs/bench-step.log" 2>&1
  say "bench-ops step rc=$?"
  grep '^bench step' "$logs/bench-step.log" >> "$summary"
  for c in iris-small large; do
    AR_PREDICTOR_FUSED_STEP=1 AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 1 \
      --warmup 1 models/bench/$c.yaml > "$logs/profile-fused-$c.log" 2>&1
  done
  # Weight rows loaded before each task's wait, or after it (the kernel before preloading).
  ours "fused step preload 0 large" large 12 AR_PREDICTOR_FUSED_STEP=1 AR_STEP_PRELOAD=0
  # Workgroups and rows per subgroup of the fused step on large (AR_DEVICE_STEP_GROUPS="132 528",
  # AR_DEVICE_STEP_ROWS="2 4"; by default 396 workgroups, three per multiprocessor of an H100
  # or H200, against the default two, and 2 rows; set them empty to skip).
  for n in ${AR_DEVICE_STEP_GROUPS-396}; do
    ours "fused step groups $n large" large 12 AR_PREDICTOR_FUSED_STEP=1 AR_STEP_GROUPS=$n
  done
  for n in ${AR_DEVICE_STEP_ROWS-2}; do
    ours "fused step rows $n large" large 12 AR_PREDICTOR_FUSED_STEP=1 AR_STEP_ROWS=$n
  done
fi
# A/B of new GPU kernels (AR_DEVICE_AB="matvec_rows decode_fused ..."): each one avoided in
# turn, then all of them, ours only, alternating with the default choice.
if [ -n "${AR_DEVICE_AB:-}" ]; then
  all=$(echo $AR_DEVICE_AB | tr ' ' ',')
  for c in iris-small large; do
    frames=40; [ $c = large ] && frames=12
    for avoid in "" $AR_DEVICE_AB "$all" ""; do
      AR_VULKAN_AVOID=$avoid timeout 60 build/tools/arbench --frames $frames --warmup 3 \
        models/bench/$c.yaml > "$logs/ab-$c-${avoid:-none}.log" 2>&1
      say "ab $c avoid=${avoid:-none}: $(grep -E '^(generate|frame) ' "$logs/ab-$c-${avoid:-none}.log" | tr -s ' ' | tr '\n' ' ')"
    done
  done
fi
# Tile shapes of the patch convolution (AR_DEVICE_CONV_TILES="th=1 th=4,tc=8 ..."), per card.
for tile in ${AR_DEVICE_CONV_TILES:-}; do
  for c in iris-small large; do
    AR_CONV_PATCH_TILE=$tile timeout 60 build/tools/arbench --frames 10 --warmup 2 \
      models/bench/$c.yaml > "$logs/conv-$c-$tile.log" 2>&1
    say "conv tile $tile $c: $(grep -E '^(encode|decode) ' "$logs/conv-$c-$tile.log" | tr -s ' ' | tr '\n' ' ')"
  done
done
# Split sizes of one-token attention (AR_DEVICE_DECODE_KEYS="64 128"), on large.
for keys in ${AR_DEVICE_DECODE_KEYS:-}; do
  AR_ATTN_DECODE_MIN_KEYS=$keys timeout 60 build/tools/arbench --frames 12 --warmup 3 \
    models/bench/large.yaml > "$logs/decode-keys-$keys.log" 2>&1
  say "decode min keys $keys large: $(grep -E '^(generate|frame) ' "$logs/decode-keys-$keys.log" | tr -s ' ' | tr '\n' ' ')"
done
AR_PREDICTOR_NO_REPLAY=1 timeout 60 build/tools/arbench --frames 10 --warmup 2 \
  models/bench/iris-small.yaml > "$logs/bench-iris-small-noreplay.log" 2>&1
say "== iris-small recording every frame (no replay) rc=$?: $(grep -E '^(frame|fps)' "$logs/bench-iris-small-noreplay.log" | tr '\n' ' ')"
for c in iris-small large; do
  AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 1 --warmup 1 models/bench/$c.yaml \
    > "$logs/profile-$c.log" 2>&1
done
if [ -n "${AR_DEVICE_TORCH_EAGER:-}" ]; then
  PYTHONUNBUFFERED=1 timeout 60 python3 models/bench_torch.py --frames 30 --warmup 5 --device cuda \
    --no-graphs models/bench/iris-small.yaml > "$logs/torch-eager-iris-small.log" 2>&1
  say "torch eager iris-small rc=$?: $(grep -E '^torch_(fps|info)' "$logs/torch-eager-iris-small.log" | tr '\n' ' ')"
fi
for g in ${AR_DEVICE_GROUPS:-norm softmax sample eltwise rope embed codebook runtime}; do
  ops "$g" 30
done
echo "==== summary"
cat "$summary"
