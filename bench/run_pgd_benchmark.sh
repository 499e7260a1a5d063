#!/usr/bin/env bash
# PGD-50 on 1000 Fashion-MNIST test images against a 3-member CNN ensemble: edlcm (Swift) and the
# same attack in PyTorch (bench/pgd_reference.py) on the same libtorch, the same weights, images,
# batches and threads, alternating so that both see the same machine load.
#
# Usage: bench/run_pgd_benchmark.sh RUN_FOLDER [THREADS] [ROUNDS] [SAMPLES]
#   RUN_FOLDER  a run written by `edlcm train` (3 × cnn on fashion-mnist)
#   THREADS     libtorch threads for both (default: 2)
#   ROUNDS      alternating Swift/PyTorch rounds (default: 3); each prints one JSON line
#   SAMPLES     test images drawn (default: 1000; the clean-correct ones are attacked)
# Build first: swift build -c release
set -euo pipefail
cd "$(dirname "$0")/.."
run=$1
threads=${2:-2}
rounds=${3:-3}
samples=${4:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq "$rounds"); do
    .build/release/edlcm evaluate --run "$run" --out "$work/swift-$round.json" --attacks pgd --targets probabilities \
        --eps 0.1 --steps 50 --restarts 1 --samples "$samples" --no-early-stop --no-matrix --no-checks --batch-size 500 \
        --threads "$threads" > /dev/null 2> "$work/swift-$round.log"
    /usr/bin/python3 - "$work/swift-$round.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
unit = r["robustness"][0]["units"][0]
print(json.dumps({"implementation": "edlcm", "libtorch": r["provenance"]["libtorch_version"], "threads": r["provenance"]["threads"],
                  "images": unit["attacked"], "seconds": unit["seconds"], "cpu_seconds": unit["cpu_seconds"],
                  "images_per_second": unit["attacked"] / unit["seconds"], "images_per_cpu_second": unit["attacked"] / unit["cpu_seconds"],
                  "robust_accuracy_of_attacked": 1 - unit["succeeded"] / unit["attacked"]}))
PY
    /usr/bin/python3 bench/pgd_reference.py "$run" "$work/swift-$round.json" --threads "$threads" --batch-size 500 --eps 0.1 --steps 50
done
