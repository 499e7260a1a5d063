#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and PyTorch 2.x but no Swift (under 10 minutes):
#   scripts/gpu-check.sh BUNDLE [OUT]
# BUNDLE is the folder `make dist TORCH2_VERSION=<the machine's torch>` made (dist/edlcm-…); OUT
# (default gpu-check/) receives machine.txt, device-check.txt (CUDA against CPU on fixed batches
# within the stated tolerances: forward, HVP, one step of every method, APGD-CE and Square) and
# bench.jsonl/bench.md (edlcm bench --device cuda --batch 128 beside bench/reference.py --device cuda
# --batch 128, the same steps in PyTorch from Python on the same GPU, 3 rounds alternating which
# goes first, medians).
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
exit "$status"
