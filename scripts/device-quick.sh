#!/usr/bin/env bash
# A short follow-up run on a lent NVIDIA machine, after scripts/device-check.sh: correctness
# of the defaults (golden, step and conv op tests with the validation layer), arbench against
# PyTorch CUDA on both bench cards (sliding window and refresh; the default trial picks per op,
# the plain or the folded fused kernel), then ours only, alternating: the fused kernels
# (AR_QUICK_KERNELS_LARGE / _IRIS: "0" per op, "plain", "fold:B" folded with B fc1 blocks per
# MLP task, "@G" after either for G workgroups) and the plain kernel's workgroup count
# (AR_QUICK_GROUPS_LARGE / _IRIS; "0" = the per-op steps); and under --context refresh the
# session-17 prefill kernels against the ones before them (AR_QUICK_REFRESH_IRIS / _LARGE:
# "new" the defaults, "old" AR_VULKAN_AVOID=attention_keys4,matmul_skinny, "keys1" and
# "noskinny" one of the two; the plain fused step).
# Same setup as device-check.sh (the line ../shared/tools/gpu-prep.sh prints; build and .gl
# carried). Logs in $OUT/quick.tar.gz. AR_QUICK_TESTS=0 skips the tests, the step bench and the
# profile; any of the four lists set empty skips its runs.
. "$(dirname "$0")/device-setup.sh" quick
if [ "${AR_QUICK_TESTS:-1}" != 0 ]; then
AR_VULKAN_VALIDATE=1 timeout 150 build/tests/model/test-golden tests/fixtures/tiny > "$logs/golden.log" 2>&1
say "golden rc=$? $(tail -n 1 "$logs/golden.log") ($(grep -c '^\[vulkan validation' "$logs/golden.log") validation msgs)"
for g in step matmul attention; do
  AR_VULKAN_VALIDATE=1 timeout 150 build/tests/test-ops $g > "$logs/ops-$g.log" 2>&1
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
kernels() {   # card frames kinds...
  local card=$1 frames=$2 i=0
  shift 2
  for k in "$@"; do
    local log=$logs/kernel-$card-$((i++))-${k//[:@]/-}.log set_env
    case ${k%@*} in
      0) set_env="AR_PREDICTOR_FUSED_STEP=0" ;;
      plain) set_env="AR_PREDICTOR_FUSED_STEP=1 AR_STEP_FOLD=0" ;;
      fold:*) set_env="AR_PREDICTOR_FUSED_STEP=1 AR_STEP_FOLD=1 AR_STEP_FFN_BLOCKS=${k#fold:}"
        set_env=${set_env%@*} ;;
    esac
    [ "$k" != "${k#*@}" ] && set_env="$set_env AR_STEP_GROUPS=${k#*@}"
    env $set_env timeout 60 build/tools/arbench --frames "$frames" --warmup 3 models/bench/$card.yaml > "$log" 2>&1
    say "kernel $card $k rc=$?: $(grep -E '^(generate|frame) ' "$log" | tr -s ' ' | tr '\n' ' ')"
  done
}
kernels large 12 ${AR_QUICK_KERNELS_LARGE-plain fold:2 plain fold:1 fold:4 fold:2 plain fold:2@396 fold:2@132 0}
kernels iris-small 40 ${AR_QUICK_KERNELS_IRIS-plain fold:2 plain fold:1 fold:4 fold:2 plain 0}
groups=()
for n in ${AR_QUICK_GROUPS_LARGE-264 528}; do groups+=("plain@$n"); done
kernels large 12 "${groups[@]}"
groups=()
for n in ${AR_QUICK_GROUPS_IRIS-}; do groups+=("plain@$n"); done
kernels iris-small 40 "${groups[@]}"
refresh_ab() {   # card frames kinds...: refresh frames (17 or 257 queries after a long cache)
  local card=$1 frames=$2 i=0
  shift 2
  for k in "$@"; do
    local log=$logs/refresh-$card-$((i++))-$k.log avoid=
    case $k in
      old) avoid=attention_keys4,matmul_skinny ;;
      keys1) avoid=attention_keys4 ;;
      noskinny) avoid=matmul_skinny ;;
    esac
    AR_VULKAN_AVOID=$avoid AR_PREDICTOR_FUSED_STEP=1 AR_STEP_FOLD=0 timeout 60 \
      build/tools/arbench --frames "$frames" --warmup 3 --context refresh models/bench/$card.yaml > "$log" 2>&1
    say "refresh $card $k rc=$?: $(grep -E '^(generate|frame) ' "$log" | tr -s ' ' | tr '\n' ' ')"
  done
}
refresh_ab iris-small 40 ${AR_QUICK_REFRESH_IRIS-new old new old keys1 noskinny}
refresh_ab large 12 ${AR_QUICK_REFRESH_LARGE-new old}
[ "${AR_QUICK_TESTS:-1}" = 0 ] && { echo "==== summary"; cat "$summary"; exit 0; }
timeout 60 build/tests/bench-ops --only step --f16-only --calls 32 > "$logs/bench-step.log" 2>&1
grep '^bench step' "$logs/bench-step.log" | tee -a "$summary"
AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 1 --warmup 1 models/bench/large.yaml \
  > "$logs/profile-large.log" 2>&1
# iris-small's refresh generate (6.1 ms) was no faster than the sliding window's (6.3) in
# session 15 although it prefills 17 positions instead of 323: its GPU time per op.
AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 2 --warmup 1 --context refresh \
  models/bench/iris-small.yaml > "$logs/profile-iris-small-refresh.log" 2>&1
echo "==== summary"
cat "$summary"
