#!/usr/bin/env bash
# The main job on Fashion-MNIST: train a plain ensemble and an EDLCM ensemble on the same slice and
# budget, measure their diversity and curvature, attack both with a real suite (white-box APGD-CE,
# APGD-DLR, PGD on three ensemble objectives, the gradient-free Square attack, transfer from a
# surrogate, the transferability matrix, gradient-masking checks), and write one HTML report.
# Every number lands in runs/demo/ with the command that made it.
set -euo pipefail
cd "$(dirname "$0")/.."
EDLCM=${EDLCM:-.build/release/edlcm}
OUT=${OUT:-runs/demo}
TRAIN_LIMIT=${TRAIN_LIMIT:-5000}
EPOCHS=${EPOCHS:-2}
SAMPLES=${SAMPLES:-200}
mkdir -p "$OUT"

common=(--dataset fashion-mnist --arch cnn --members 3 --epochs "$EPOCHS" --train-limit "$TRAIN_LIMIT" --test-limit 1000 --seed 0)
train() { # name, flags…
    local name=$1; shift
    if [ -f "$OUT/$name/checkpoint.safetensors" ]; then
        "$EDLCM" train "${common[@]}" "$@" --out "$OUT/$name" --resume
    else
        rm -rf "$OUT/$name"
        "$EDLCM" train "${common[@]}" "$@" --out "$OUT/$name"
    fi
}
echo "== training a held-out surrogate (plain ensemble, another seed) for the transfer attacks"
if [ ! -f "$OUT/surrogate/checkpoint.safetensors" ]; then
    rm -rf "$OUT/surrogate"
    "$EDLCM" train --dataset fashion-mnist --arch cnn --members 2 --epochs "$EPOCHS" --train-limit "$TRAIN_LIMIT" --test-limit 1000 --seed 7 --out "$OUT/surrogate"
fi
for method in baseline edlcm; do
    echo "== training $method"
    train "$method" --method "$method"
    echo "== analysing $method"
    "$EDLCM" analyze --run "$OUT/$method" --samples "$SAMPLES" --power-iterations 10
    echo "== evaluating $method"
    "$EDLCM" evaluate --run "$OUT/$method" --samples "$SAMPLES" --eps 0.05 0.1 0.2 --steps 20 --queries 300 \
        --attacks fgsm apgd-ce apgd-dlr pgd square --surrogates "$OUT/surrogate" --transfer-steps 20 \
        --matrix-samples 100 --check-samples 50
done
"$EDLCM" report "$OUT/baseline" "$OUT/edlcm" --out "$OUT/report.html"
"$EDLCM" report "$OUT/baseline" "$OUT/edlcm" --out "$OUT/report.md" --format markdown >/dev/null
echo "report: $(pwd)/$OUT/report.html"
