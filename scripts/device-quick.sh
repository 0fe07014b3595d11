#!/usr/bin/env bash
# A short follow-up run on a lent NVIDIA machine (~420 s on an H200: session 22's version ran
# 160-333 s; session 23 added the attention op test and four iris-small runs, session 24 two
# regs0 runs), after scripts/device-check.sh: correctness of the defaults (golden; the step op
# tests, with the validation layer), arbench against PyTorch CUDA on both bench cards (sliding
# window and refresh), then ours only, alternating, variants of the defaults (kinds joined
# with + apply together, e.g. plain+p0):
#   new      the defaults;
#   p0       the fused step loads nothing before its waits (AR_STEP_PRELOAD=0: large's plain
#            step took 352k against 480k ns in session 22's bench-ops trace, not yet in frames);
#   kvrows   its attention tasks load their keys after the wait (AR_STEP_PRELOAD=rows);
#   k128     attention tasks of at least 128 keys: fewer splits to merge (AR_STEP_MIN_KEYS=128);
#   tile64   the 32x32 matmul tiles on 64 invocations (AR_MATMUL_TILE32_WIDE=0);
#   nosplit  the prefill attention's small grids walk each query block's keys in one
#            workgroup (AR_VULKAN_AVOID=attention_splits; session 23's key splits not yet
#            timed on a GPU);
#   regs0    norms and softmax read x in three passes (AR_VULKAN_AVOID=reduce_registers;
#            session 24's register form not yet timed on a GPU);
#   fold     the folded fused step (AR_STEP_FOLD=1); plain the plain one (AR_STEP_FOLD=0);
#   rf       with IRIS's context policy (--context refresh: 17-query prefills, 4 workgroups);
#   K@N      variant K on N workgroups (AR_STEP_GROUPS).
# (AR_QUICK_IRIS / AR_QUICK_LARGE: the lists), the fused step kernels alone (bench-ops, with
# each configuration's per-phase trace: AR_STEP_TRACE=1) and per-op profiles of a frame of each
# card. Session 22 ran the session-21 version (333 s on an H200), then one with the split
# merge in the proj tasks (240 s; dropped: docs/performance-log.md). Same setup as
# device-check.sh (the line ../shared/tools/gpu-prep.sh prints; build and .gl carried). Logs
# in $OUT/quick.tar.gz. When `test-ops step` fails, it runs again with nothing preloaded and
# with the keys loaded after the wait (the caller's AR_STEP_PRELOAD holds in every case that
# sets none), naming the failing checks. AR_QUICK_TESTS=0 skips the tests, the step bench
# and the profiles; AR_QUICK_GOLDEN=0 the golden test, AR_QUICK_REFRESH=0 the refresh benches.
#
# How a session runs it: ../shared/tools/gpu-prep.sh vulkan-validationlayers (makes .gl/);
# ninja -C build; delete build/**/*.o and move build/{plugins,examples,tests/elements,
# tests/fuzz} and build/tools/{areval,armodel,arsim-record} aside (unused here; the build must
# stay under the 64 MiB a run carries; move them back after); run with .gl and build carried:
#   for f in .gl/*.deb; do dpkg -x $f /; done; mkdir -p /opt/ardeps;
#   for f in .gl/deps/*.deb; do dpkg -x $f /opt/ardeps; done; ldconfig;
#   export LD_LIBRARY_PATH=/opt/ardeps/usr/lib/x86_64-linux-gnu:/opt/ardeps/lib/x86_64-linux-gnu
#   export PATH=/opt/ardeps/usr/bin:$PATH; timeout 540 bash scripts/device-quick.sh
# then give the machine back; the logs come back in $OUT/quick.tar.gz and summary.txt.
. "$(dirname "$0")/device-setup.sh" quick
if [ "${AR_QUICK_TESTS:-1}" != 0 ]; then
if [ "${AR_QUICK_GOLDEN:-1}" != 0 ]; then
AR_VULKAN_VALIDATE=1 timeout 120 build/tests/model/test-golden tests/fixtures/tiny > "$logs/golden.log" 2>&1
say "golden rc=$? $(tail -n 1 "$logs/golden.log") ($(grep -c '^\[vulkan validation' "$logs/golden.log") validation msgs)"
fi
ops_step() {   # log-suffix [VAR=value...]: test-ops step under those settings
  local name=ops-step$1
  shift
  env "$@" AR_VULKAN_VALIDATE=1 timeout 90 build/tests/test-ops step > "$logs/$name.log" 2>&1
  local rc=$?
  say "$name ${*:-(defaults)} rc=$rc $(tail -n 1 "$logs/$name.log") ($(grep -c '^\[vulkan validation' "$logs/$name.log") validation msgs)"
  return $rc
}
# A failing step test is triaged at once: which preloading it needs, and the failing checks.
if ! ops_step ""; then
  grep -E 'FAIL' "$logs/ops-step.log" | head -n 20 | tee -a "$summary"
  ops_step -p0 AR_STEP_PRELOAD=0
  ops_step -kvrows AR_STEP_PRELOAD=rows
fi
# The prefill attention's key splits (new in session 23), and their timings against none.
AR_VULKAN_VALIDATE=1 timeout 120 build/tests/test-ops attention > "$logs/ops-attention.log" 2>&1
say "ops attention rc=$? $(tail -n 1 "$logs/ops-attention.log") ($(grep -c '^\[vulkan validation' "$logs/ops-attention.log") validation msgs)"
grep -E 'FAIL' "$logs/ops-attention.log" | head -n 20 | tee -a "$summary"
grep -E '^# (time attention prefill|one workgroup|keys scored)' "$logs/ops-attention.log" | tee -a "$summary"
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
if [ "${AR_QUICK_REFRESH:-1}" != 0 ]; then
bench iris-small-refresh iris-small 40 5 --context refresh
bench large-refresh large 12 2 --context refresh
fi
variants() {   # card frames kinds...
  local card=$1 frames=$2 i=0
  shift 2
  for k in "$@"; do
    local log=$logs/ab-$card-$((i++))-${k//[@+]/-}.log set_env= args= avoid=
    local part
    for part in $(echo "${k%@*}" | tr + ' '); do
      case $part in
        p0) set_env="$set_env AR_STEP_PRELOAD=0" ;;
        kvrows) set_env="$set_env AR_STEP_PRELOAD=rows" ;;
        k128) set_env="$set_env AR_STEP_MIN_KEYS=128" ;;
        tile64) set_env="$set_env AR_MATMUL_TILE32_WIDE=0" ;;
        nosplit) avoid="$avoid,attention_splits" ;;
        regs0) avoid="$avoid,reduce_registers" ;;
        rf) args="--context refresh" ;;
        fold) set_env="$set_env AR_STEP_FOLD=1" ;;
        plain) set_env="$set_env AR_STEP_FOLD=0" ;;
      esac
    done
    [ -n "$avoid" ] && set_env="$set_env AR_VULKAN_AVOID=${avoid#,}"
    [ "$k" != "${k#*@}" ] && set_env="$set_env AR_STEP_GROUPS=${k#*@}"
    env $set_env timeout 60 build/tools/arbench --frames "$frames" --warmup 3 $args models/bench/$card.yaml > "$log" 2>&1
    say "ab $card $k rc=$?: $(grep -oE '^one-token steps: (per op|fused \((plain|folded)\))' "$log") $(grep -E '^(encode|generate|decode|frame) ' "$log" | tr -s ' ' | tr '\n' ' ')"
  done
}
variants iris-small 40 ${AR_QUICK_IRIS-new p0 k128 nosplit regs0 rf rf+nosplit new p0 k128 nosplit regs0 rf rf+nosplit}
variants large 12 ${AR_QUICK_LARGE-new plain+p0 fold+p0 k128 new plain+p0 fold+p0 k128}
[ "${AR_QUICK_TESTS:-1}" = 0 ] && { echo "==== summary"; cat "$summary"; exit 0; }
AR_STEP_TRACE=1 timeout 90 build/tests/bench-ops --only step --f16-only --calls 32 > "$logs/bench-step.log" 2>&1
grep -E '^(bench|trace) step' "$logs/bench-step.log" | tee -a "$summary"
for card in iris-small large; do
  AR_VULKAN_PROFILE=1 timeout 60 build/tools/arbench --frames 2 --warmup 1 \
    models/bench/$card.yaml > "$logs/profile-$card.log" 2>&1
  say "profile $card rc=$?"
done
echo "==== summary"
cat "$summary"
