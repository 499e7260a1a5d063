#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and PyTorch 2.x but no Swift (under 10 minutes):
#   scripts/gpu-check.sh BUNDLE [OUT]
# BUNDLE is the folder `make dist TORCH2_VERSION=<the machine's torch>` made (dist/edlcm-…); OUT
# (default gpu-check/) receives machine.txt, device-check.txt (CUDA against CPU on fixed batches
# within the stated tolerances: forward, HVP, one step of every method, APGD-CE and Square) and
# bench.jsonl/bench.md (edlcm bench --device cuda --batch 128 beside bench/reference.py --device cuda
# --batch 128, the same steps in PyTorch from Python on the same GPU, 3 rounds alternating which
# goes first, medians), and distributed.txt (training under `edlcm launch` with NCCL and with Gloo
# against one process alone; DATA_DIR, below).
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${1:?usage: scripts/gpu-check.sh BUNDLE [OUT]}
out=${2:-gpu-check}
steps=${STEPS:-20}
rounds=${ROUNDS:-3}
mkdir -p "$out"
{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
    "$bundle/edlcm" --version
} >"$out/machine.txt" 2>&1
cat "$out/machine.txt"

"$bundle/edlcm" device-check --device cuda 2>&1 | tee "$out/device-check.txt"
status=${PIPESTATUS[0]}

: >"$out/bench.jsonl"
for case in cnn-plain cnn-edlcm resnet-plain resnet-edlcm cnn-pgd resnet-pgd; do
    for ((round = 0; round < rounds; round++)); do
        swift_run() { "$bundle/edlcm" bench --json --cases "$case" --steps "$steps" --batch 128 --device cuda | sed 's/^/{"side": "edlcm", "line": /; s/$/}/'; }
        torch_run() { python3 bench/reference.py --cases "$case" --steps "$steps" --batch 128 --device cuda | sed 's/^/{"side": "pytorch", "line": /; s/$/}/'; }
        if ((round % 2 == 0)); then swift_run; torch_run; else torch_run; swift_run; fi
    done >>"$out/bench.jsonl"
done
python3 - "$out/bench.jsonl" >"$out/bench.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| case | edlcm img/s | PyTorch img/s | edlcm / PyTorch (median of rounds) | range |")
print("|---|---|---|---|---|")
for case in dict.fromkeys(r["line"]["name"] for r in rows):
    ours = [r["line"]["images_per_second"] for r in rows if r["line"]["name"] == case and r["side"] == "edlcm"]
    theirs = [r["line"]["images_per_second"] for r in rows if r["line"]["name"] == case and r["side"] == "pytorch"]
    ratios = [a / b for a, b in zip(ours, theirs)]
    print(f"| {case} | {statistics.median(ours):.0f} | {statistics.median(theirs):.0f} | {statistics.median(ratios):.2f} | {min(ratios):.2f}–{max(ratios):.2f} |")
PY
cat "$out/bench.md"

# Distributed training on the GPU (DATA_DIR: a Fashion-MNIST folder, Debian's by default; skipped
# without one): one process alone, then one rank under `edlcm launch` with NCCL (the plug-in) and
# with Gloo (collectives staged through host memory), the same seed and deterministic algorithms: the
# three sets of weights must agree (a one-rank all-reduce is the identity). With two GPUs or more,
# two ranks with NCCL (one GPU each) are compared with two ranks with Gloo on the CPU.
data=${DATA_DIR:-/usr/share/datasets/fashion-mnist}
if [ -f "$data/train-images-idx3-ubyte.gz" ]; then
    common=(train --members 2 --epochs 1 --train-limit 2560 --test-limit 500 --batch-size 128 --seed 3 --threads 4
        --deterministic --data-dir "$data")
    rm -rf "$out"/distributed-*
    (
        failed=0
        "$bundle/edlcm" "${common[@]}" --device cuda --out "$out/distributed-alone" &&
            "$bundle/edlcm" launch --nproc 1 --backend nccl -- "${common[@]}" --device cuda --out "$out/distributed-nccl" &&
            "$bundle/edlcm" launch --nproc 1 --backend gloo -- "${common[@]}" --device cuda --out "$out/distributed-gloo" || failed=1
        runs=(alone nccl gloo)
        if [ "$(python3 -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
            "$bundle/edlcm" launch --nproc 2 --backend nccl -- "${common[@]}" --out "$out/distributed-nccl2" &&
                "$bundle/edlcm" launch --nproc 2 --backend gloo -- "${common[@]}" --device cpu --out "$out/distributed-gloo2-cpu" ||
                failed=1
            runs+=(nccl2 gloo2-cpu)
        fi
        python3 - "$out" "${runs[@]}" <<'PY' || failed=1
import sys
from safetensors.numpy import load_file
out, runs = sys.argv[1], sys.argv[2:]
weights = {run: load_file(f"{out}/distributed-{run}/checkpoint.safetensors") for run in runs}
def compare(a, b, tolerance):
    names = sorted(k for k in weights[a] if k.startswith("member"))
    worst = max(float(abs(weights[a][k].astype("float64") - weights[b][k].astype("float64")).max()) for k in names)
    verdict = "ok" if worst <= tolerance else "FAILED"
    print(f"{a} vs {b}: {len(names)} tensors, max |difference| {worst:.3g} (tolerance {tolerance:g}) {verdict}")
    return worst <= tolerance
ok = compare("alone", "nccl", 0) & compare("alone", "gloo", 0)
if "nccl2" in runs:
    ok &= compare("nccl2", "gloo2-cpu", 1e-3)
sys.exit(0 if ok else 1)
PY
        exit "$failed"
    ) 2>&1 | tee "$out/distributed.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
    echo "distributed: skipped ($data holds no Fashion-MNIST; set DATA_DIR)" | tee "$out/distributed.txt"
fi
exit "$status"
