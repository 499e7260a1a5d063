#!/usr/bin/env bash
# The protocol rerun's seed 2 on an AVX-512 machine (docs/results.md, "Decided at 14:55"): once seed 1
# of results/fashion-mnist is finished, an AVX-512 sitting runs the whole of seed 2 again in
# results/fashion-mnist-seed2-avx512, a copy of the study folder without seed 2's runs and surrogate
# (the copied seed 0 and 1 files and the sweep are not committed there: this script copies them again).
# Usage, from the repository root: scripts/rerun-seed2-avx512.sh [BINARY] (default /work/rerun-bin/edlcm,
# the pinned release build of 8075790).
# Done: it finished all nine seed-2 runs on 2026-12-07 18:35, and they were moved into
# results/fashion-mnist (docs/results.md, "The rerun"); kept as the record of how they were made.
set -euo pipefail
binary=${1:-/work/rerun-bin/edlcm}
grep -q avx512vl /proc/cpuinfo || { echo "rerun-seed2-avx512: this machine has no AVX-512; seed 2 of results/fashion-mnist runs here instead" >&2; exit 1; }
methods="plain adp gal dverge trs edlcm lr-only lg-only pgd-at"
for m in $methods; do
  [ -f results/fashion-mnist/runs/$m-seed1/evaluation.json ] || { echo "rerun-seed2-avx512: $m-seed1 is not finished; run seed 1 first" >&2; exit 1; }
done
out=results/fashion-mnist-seed2-avx512
mkdir -p $out
tar -C results/fashion-mnist --exclude './runs/*-seed2' --exclude './surrogates/plain-m3-seed2' --exclude '*.lock' \
  --exclude '*.safetensors' --exclude './study.json' --exclude './.gitignore' -cf - . | tar -C $out -xf -
# the study's record, without the commands that made the original folder (each run here appends its own)
[ -f $out/study.json ] || python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); s["commands"] = []; json.dump(s, open(sys.argv[2], "w"), indent=2)' \
  results/fashion-mnist/study.json $out/study.json
for m in $methods; do
  "$binary" study run studies/fashion-mnist.yaml --out $out --threads 2 --only $m-seed2
done
