#!/bin/bash
# The README's ablation of the scene recipe (Background removal, Measured): the full
# recipe of the time (with --distractors 3, since made off by default) and each change
# undone, 1,500 steps each, scored on real photos with masks.
#   benchmarks/bg_ablation.sh [REAL_DIR] [PRODUCTS_DIR]     (about 50 min here)
set -euo pipefail
DATA=${FASTFEED_DATA:-../shared/data}  # docs/data.md
REAL=${1:-$DATA/real_dev}
S=${2:-$DATA/products}
FASTFEED=${FASTFEED:-.venv/bin/fastfeed}
run() {
    name=$1; shift
    "$FASTFEED" train --task composites --steps 1500 --run-dir "runs/ablation/$name" \
        --objects "$S/objects:1,$S/photo_objects:2" --backgrounds "$S/backgrounds" \
        --eval-real "$REAL" --distractors 3 "$@" > "runs/ablation/$name.log" 2>&1
    grep -E "^  (test|real):" "runs/ablation/$name.log" | sed "s/^/$name /"
}
mkdir -p runs/ablation
run full
run plain --distractors 0 --layer-probability 0 --defocus-probability 0 \
    --scale-range 0.25,0.9 --augment flip_lr
run no_distractors --distractors 0
run no_defocus --defocus-probability 0
run no_layers --layer-probability 0
run no_photometric --augment flip_lr
run no_larger_scale --scale-range 0.25,0.9
