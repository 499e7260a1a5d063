#!/usr/bin/env bash
# Runs the same training steps in Swift (edlcm bench) and in PyTorch from Python (bench/reference.py),
# back to back on the same machine and libtorch, and prints the ratios.
#   bench/compare.sh [STEPS] [CASE...]
# BENCH_FLAGS adds flags to edlcm bench (for example BENCH_FLAGS=--low-memory).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
shift || true
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(cnn-plain cnn-edlcm resnet-plain resnet-edlcm)
swift build -c release --product edlcm >/dev/null
threads=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads cores; libtorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); $(date -u +%F)"
printf "%-13s %10s %10s %7s %12s %12s %7s\n" config swift_img/s torch_img/s speedup swift_RSS_MB torch_RSS_MB RSS
for case in "${cases[@]}"; do
    s=$(.build/release/edlcm bench --json --cases "$case" --steps "$steps" --threads "$threads" ${BENCH_FLAGS:-})
    p=$(/usr/bin/python3 bench/reference.py --cases "$case" --steps "$steps" --threads "$threads")
    python3 - "$s" "$p" <<'PY'
import json, sys
s, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{s['name']:<13} {s['images_per_second']:10.1f} {p['images_per_second']:10.1f} {s['images_per_second']/p['images_per_second']:6.2f}x "
      f"{s['peak_rss_mb']:12.0f} {p['peak_rss_mb']:12.0f} {s['peak_rss_mb']/p['peak_rss_mb']:6.2f}x")
PY
done
