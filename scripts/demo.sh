#!/usr/bin/env bash
# The main job on Fashion-MNIST: train a plain ensemble and an EDLCM ensemble on the same slice and
# budget, then measure their diversity and curvature. Every number lands in runs/demo/, with the
# command that made it recorded beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
EDLCM=${EDLCM:-.build/release/edlcm}
OUT=${OUT:-runs/demo}
TRAIN_LIMIT=${TRAIN_LIMIT:-10000}
EPOCHS=${EPOCHS:-3}
SAMPLES=${SAMPLES:-500}
mkdir -p "$OUT"

common=(--dataset fashion-mnist --arch cnn --members 3 --epochs "$EPOCHS" --train-limit "$TRAIN_LIMIT" --test-limit 2000 --seed 0)
for method in baseline edlcm; do
    if [ -f "$OUT/$method/checkpoint.safetensors" ]; then
        echo "== $method: resuming or reusing $OUT/$method"
        "$EDLCM" train "${common[@]}" --method "$method" --out "$OUT/$method" --resume
    else
        echo "== training $method"
        "$EDLCM" train "${common[@]}" --method "$method" --out "$OUT/$method"
    fi
    echo "== analysing $method"
    "$EDLCM" analyze --run "$OUT/$method" --samples "$SAMPLES"
done
echo "demo results: $OUT"
