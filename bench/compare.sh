#!/usr/bin/env bash
# Runs the same training steps in Swift (edlcm bench) and in PyTorch from Python (bench/reference.py),
# back to back on the same machine and libtorch, and prints the ratios.
#   bench/compare.sh [STEPS] [CASE...]
# BENCH_FLAGS adds flags to edlcm bench (for example BENCH_FLAGS=--low-memory).
# ROUNDS (default 3) repeats each pair, alternating which side goes first; the table gives the
# medians and the median of the per-round speed ratios with its range, since a shared VM's speed
# drifts by ±15 % from one minute to the next and only ratios measured back to back count.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
shift || true
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(cnn-plain cnn-edlcm resnet-plain resnet-edlcm cnn-pgd resnet-pgd cnn-apgd-t cnn-fab-t)
rounds=${ROUNDS:-3}
# .venv (made by make test) adds the reference AutoAttack code (pyautoattack) to Debian's torch.
python=/usr/bin/python3
[ -x .venv/bin/python ] && python=.venv/bin/python
if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "bench/compare.sh: the PyTorch reference needs PyTorch for Python: apt-get install python3-torch (make test installs it)" >&2
    exit 1
fi
swift build -c release --product edlcm >/dev/null
threads=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads cores; libtorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); $(date -u +%F); $rounds rounds, $steps steps each${BENCH_FLAGS:+; edlcm bench $BENCH_FLAGS}"
printf "%-13s %10s %10s %8s %13s %12s %12s %7s\n" config swift_img/s torch_img/s speedup ratio_range swift_RSS_MB torch_RSS_MB RSS
for case in "${cases[@]}"; do
    results=()
    for ((round = 0; round < rounds; round++)); do
        swift_run() { .build/release/edlcm bench --json --cases "$case" --steps "$steps" --threads "$threads" ${BENCH_FLAGS:-}; }
        torch_run() { "$python" bench/reference.py --cases "$case" --steps "$steps" --threads "$threads"; }
        if ((round % 2 == 0)); then s=$(swift_run); p=$(torch_run); else p=$(torch_run); s=$(swift_run); fi
        results+=("$s" "$p")
    done
    python3 - "${results[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
swift, torch = runs[0::2], runs[1::2]
ratios = [s["images_per_second"] / p["images_per_second"] for s, p in zip(swift, torch)]
med = lambda rs, key: statistics.median(r[key] for r in rs)
rss = med(swift, "peak_rss_mb") / med(torch, "peak_rss_mb")
print(f"{swift[0]['name']:<13} {med(swift, 'images_per_second'):10.1f} {med(torch, 'images_per_second'):10.1f} "
      f"{statistics.median(ratios):7.2f}x {min(ratios):5.2f}-{max(ratios):.2f}x "
      f"{med(swift, 'peak_rss_mb'):12.0f} {med(torch, 'peak_rss_mb'):12.0f} {rss:6.2f}x")
PY
done
