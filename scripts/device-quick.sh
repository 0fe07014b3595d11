#!/usr/bin/env bash
# A short follow-up run on a lent NVIDIA machine (~250 s on an H200), after
# scripts/device-check.sh: correctness of the defaults (golden; the step and codebook op tests, with the
# validation layer), arbench against PyTorch CUDA on both bench cards (sliding window and
# refresh), then ours only, alternating, session 21's changes against what they replaced:
#   new       the defaults;
#   old       AR_VULKAN_AVOID=conv_split_1x1 and the narrow codebook search
#             (AR_ARGMIN_WIDE=64,4,4: 4 vectors per workgroup, as before);
#   conv-old  only the 1x1 convolutions on small images back on the 64x64 tiles;
#   argmin-old only the codebook search narrow again;
#   tile32w   the 32x32 matmul tiles on 256 invocations (AR_MATMUL_TILE32_WIDE=1; not yet
#             timed on a GPU);
#   fold      the folded fused step (AR_STEP_FOLD=1); plain the plain one (AR_STEP_FOLD=0);
#   K@N       variant K on N workgroups (AR_STEP_GROUPS).
# (AR_QUICK_IRIS / AR_QUICK_LARGE: the lists), the fused step kernels alone (bench-ops, with
# each configuration's per-phase trace: AR_STEP_TRACE=1) and a per-op profile of an
# iris-small frame. Session 21 ran it (252 s on an H200) with the fused
# step without its qkv phase among the variants, since dropped (docs/performance-log.md).
# Same setup as device-check.sh (the line ../shared/tools/gpu-prep.sh prints; build and .gl
# carried). Logs in $OUT/quick.tar.gz. AR_QUICK_TESTS=0 skips the tests, the step bench and the
# profile.
. "$(dirname "$0")/device-setup.sh" quick
if [ "${AR_QUICK_TESTS:-1}" != 0 ]; then
AR_VULKAN_VALIDATE=1 timeout 120 build/tests/model/test-golden tests/fixtures/tiny > "$logs/golden.log" 2>&1
say "golden rc=$? $(tail -n 1 "$logs/golden.log") ($(grep -c '^\[vulkan validation' "$logs/golden.log") validation msgs)"
for g in step codebook matmul; do
  AR_VULKAN_VALIDATE=1 timeout 90 build/tests/test-ops $g > "$logs/ops-$g.log" 2>&1
  say "ops $g rc=$? $(tail -n 1 "$logs/ops-$g.log") ($(grep -c '^\[vulkan validation' "$logs/ops-$g.log") validation msgs)"
done
fi
bench() {   # name card frames warmup [arbench options]
  local name=$1 card=$2 frames=$3 warmup=$4
  shift 4
  timeout 120 build/tools/arbench --frames "$frames" --warmup "$warmup" --torch \
    --torch-device cuda "$@" models/bench/$card.yaml > "$logs/bench-$name.log" 2>&1
  say "bench $name rc=$?: $(grep -E '^one-token steps' "$logs/bench-$name.log" | head -1)"
  grep -E '^(torch_)?(encode|generate|decode|frame) |^ratio' "$logs/bench-$name.log" | tr -s ' ' | tr '\n' ' ' | tee -a "$summary"
  echo | tee -a "$summary"
}
bench iris-small iris-small 40 5
bench large large 20 3
bench iris-small-refresh iris-small 40 5 --context refresh
bench large-refresh large 12 2 --context refresh
variants() {   # card frames kinds...
  local card=$1 frames=$2 i=0
  shift 2
  for k in "$@"; do
    local log=$logs/ab-$card-$((i++))-${k//@/-}.log set_env=
    case ${k%@*} in
      old) set_env="AR_VULKAN_AVOID=conv_split_1x1 AR_ARGMIN_WIDE=64,4,4" ;;
      conv-old) set_env="AR_VULKAN_AVOID=conv_split_1x1" ;;
      argmin-old) set_env="AR_ARGMIN_WIDE=64,4,4" ;;
      tile32w) set_env="AR_MATMUL_TILE32_WIDE=1" ;;
      fold) set_env="AR_STEP_FOLD=1" ;;
      plain) set_env="AR_STEP_FOLD=0" ;;
    esac
    [ "$k" != "${k#*@}" ] && set_env="$set_env AR_STEP_GROUPS=${k#*@}"
    env $set_env timeout 60 build/tools/arbench --frames "$frames" --warmup 3 models/bench/$card.yaml > "$log" 2>&1
    say "ab $card $k rc=$?: $(grep -E '^(encode|generate|decode|frame) ' "$log" | tr -s ' ' | tr '\n' ' ')"
  done
}
variants iris-small 40 ${AR_QUICK_IRIS-new tile32w new tile32w new tile32w}
variants large 12 ${AR_QUICK_LARGE-new plain fold new plain fold}
[ "${AR_QUICK_TESTS:-1}" = 0 ] && { echo "==== summary"; cat "$summary"; exit 0; }
AR_STEP_TRACE=1 timeout 90 build/tests/bench-ops --only step --f16-only --calls 32 > "$logs/bench-step.log" 2>&1
grep -E '^(bench|trace) step' "$logs/bench-step.log" | tee -a "$summary"
AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 2 --warmup 1 \
  models/bench/iris-small.yaml > "$logs/profile-iris-small.log" 2>&1
AR_MATMUL_TILE32_WIDE=1 AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 2 --warmup 1 \
  models/bench/iris-small.yaml > "$logs/profile-iris-small-tile32w.log" 2>&1
echo "==== summary"
cat "$summary"
