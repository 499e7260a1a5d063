#!/usr/bin/env bash
# Fetches the CUDA and NCCL headers that a PyPI torch was built with, without their libraries (a few
# MB instead of GBs), for building the NCCL plug-in on a machine without the CUDA wheels:
#   scripts/cuda-headers.sh TORCH_DIR OUT_DIR
# Reads the pins from torch's METADATA (cuda-toolkit==X, nvidia-nccl-cuNN==Y), downloads those wheels
# into OUT_DIR/wheels (kept, so a second run downloads nothing) and unpacks their include/ folders
# into OUT_DIR/nvidia/*/include. Then: CUDA_INCLUDE="$(ls -d OUT_DIR/nvidia/*/include | paste -sd:)".
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/cuda-headers.sh TORCH_DIR OUT_DIR" >&2; exit 2; }
torch="$1"
out="$2"
metadata=$(ls "$torch"/../torch-*.dist-info/METADATA 2>/dev/null | head -1)
[ -n "$metadata" ] || { echo "scripts/cuda-headers.sh: no torch-*.dist-info/METADATA beside $torch" >&2; exit 1; }
toolkit=$(sed -n 's/^Requires-Dist: cuda-toolkit\[[^]]*\]==\([0-9.]*\).*/\1/p' "$metadata" | head -1)
nccl=$(sed -n 's/^Requires-Dist: \(nvidia-nccl-cu[0-9]*==[0-9.]*\).*/\1/p' "$metadata" | head -1)
[ -n "$toolkit" ] && [ -n "$nccl" ] || {
    echo "scripts/cuda-headers.sh: $metadata pins no cuda-toolkit or nvidia-nccl (a CPU-only torch?)" >&2
    exit 1
}
mkdir -p "$out/wheels"
python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$out/wheels" \
    "cuda-toolkit[cudart,crt,cccl,cublas,cusparse,cusolver]==$toolkit" "$nccl"
for wheel in "$out"/wheels/nvidia_*.whl; do
    python3 - "$wheel" "$out" <<'PYTHON'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        parts = name.split("/")
        if len(parts) > 3 and parts[0] == "nvidia" and parts[2] == "include":
            wheel.extract(name, sys.argv[2])
PYTHON
done
echo "$out: CUDA $toolkit and $nccl headers in $(ls -d "$out"/nvidia/*/include | paste -sd' ')"
