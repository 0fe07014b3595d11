#!/usr/bin/env bash
# The recipe of the shipped demo model, models/demo/sim64.yaml: record simulator episodes, train
# the VQ tokenizer (no normalisation layers, no mid-block attention), then the predictor on the
# tokenized episodes in one stage with the action added to every token of the frame it leads to,
# export (f16), and evaluate on held-out seeds with areval. About 1 h 5 min on a 2-core CPU with
# Debian's python3-torch (install libopenblas0-pthread: the generic reference BLAS is ~10x slower).
# Both stages train in bfloat16 autocast (--bf16): on a CPU with AVX512-BF16, as this project's
# machine has, a predictor step is ~6x faster than in float32 (0.12 vs 0.73 s). A CPU without
# it trains in float32 (bf16 is emulated there) and gets ~5x fewer predictor steps in the same
# time. The stages are time-limited (--minutes); on a CUDA GPU use --device cuda and --steps.
#
# Usage: models/train_demo.sh [WORK_DIR]     (default: train-work/; needs a build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-train-work}
py=/usr/bin/python3
arch=models/demo/sim64-arch.yaml
bf16=
grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null && bf16=--bf16
[ -x build/tools/arsim-record ] || { meson setup build && ninja -C build; }
mkdir -p "$work"
# Training seeds: 0..959 (random policy) and 5000..5063 (scripted), 770 MB. areval uses 1000000+.
# Episodes are free here, and the predictor needs many: on 320 episodes the bf16 run (5x the
# steps of float32) overfitted (train loss 0.1, held-out token accuracy stuck at 0.85).
build/tools/arsim-record --out "$work/data" --episodes 960 --frames 64 --seed-start 0
build/tools/arsim-record --out "$work/data" --episodes 64 --frames 64 --seed-start 5000 --policy scripted
$py models/train.py vq "$arch" "$work/data" "$work" --minutes 8 --steps 100000 --threads 2 $bf16
# How local the tokens are (tokens vs 8x8 pixel blocks that change per frame, held-out episodes).
$py models/token_locality.py "$arch" "$work/vq.pt" "$work/data" --threads 2 | tee "$work/locality.json"
$py models/train.py predictor "$arch" "$work/data" "$work" --minutes 44 --steps 100000 --batch 24 --threads 2 $bf16
notes="models/train_demo.sh at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
$py models/train.py export "$arch" "$work" models/demo/sim64.yaml --dtype f16 --notes "$notes"
# Evaluate the exported model with the C runtime on held-out seeds, and record the numbers.
build/tools/areval models/demo/sim64.yaml --episodes 3 --frames 19 | tee "$work/areval.txt"
$py models/train.py export "$arch" "$work" models/demo/sim64.yaml --dtype f16 --notes "$notes" \
  --eval "$work/areval.txt"
