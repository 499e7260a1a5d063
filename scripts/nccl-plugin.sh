#!/usr/bin/env bash
# Builds the NCCL plug-in, libedlcm_nccl.so: c10d's ProcessGroupNCCL for `edlcm launch`/`train
# --distributed` on GPUs (Sources/CTorch/ctorch_nccl_plugin.h says why it is a plug-in).
#   scripts/nccl-plugin.sh TORCH_DIR OUT_FILE
# TORCH_DIR is the torch/ folder edlcm was built against (a PyTorch 2.x install or wheel). The
# plug-in needs CUDA's and NCCL's headers at the versions that torch pins (ProcessGroupNCCL's layout
# depends on them); they are looked for, in order, in CUDA_INCLUDE (folders separated by ':'), the
# nvidia/*/include folders beside TORCH_DIR (where pip puts the wheels torch depends on), and
# CUDA_HOME/include and NCCL_HOME/include. On a machine with the wheels' libraries missing (a CPU
# machine), `scripts/cuda-headers.sh TORCH_DIR DIR` fetches the pinned headers alone, then
# CUDA_INCLUDE="$(ls -d DIR/nvidia/*/include | paste -sd:)".
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/nccl-plugin.sh TORCH_DIR OUT_FILE" >&2; exit 2; }
torch="$1"
out="$2"
[ -f "$torch/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp" ] || {
    echo "scripts/nccl-plugin.sh: $torch/include has no ProcessGroupNCCL.hpp (not a PyTorch 2.x torch/ folder)" >&2
    exit 1
}
[ -f "$torch/lib/libtorch_cuda.so" ] || { echo "scripts/nccl-plugin.sh: $torch/lib/libtorch_cuda.so: not found (a CUDA build of torch is needed)" >&2; exit 1; }

includes=()
IFS=: read -r -a given <<<"${CUDA_INCLUDE:-}"
for folder in "${given[@]}" "$torch"/../nvidia/*/include "${CUDA_HOME:-/usr/local/cuda}/include" "${NCCL_HOME:-/usr}/include"; do
    [ -n "$folder" ] && [ -d "$folder" ] && includes+=("-I$folder")
done
for header in cuda_runtime_api.h crt/host_config.h cublas_v2.h cusparse.h nccl.h; do
    found=
    for flag in "${includes[@]}"; do [ -f "${flag#-I}/$header" ] && found=1 && break; done
    [ -n "$found" ] || {
        echo "scripts/nccl-plugin.sh: $header not found (install the nvidia-* wheels torch pins, or scripts/cuda-headers.sh and CUDA_INCLUDE)" >&2
        exit 1
    }
done

mkdir -p "$(dirname "$out")"
# The flags of edlcm's CTorch target (Package.swift) for libtorch 2.x, plus NCCL's process group.
# Linked to libtorch_cuda and c10_cuda by soname: the shim loads libtorch_cuda (with its CUDA and
# NCCL libraries) before it loads the plug-in, so they resolve to those.
"${CXX:-clang++}" -std=c++20 -O2 -fPIC -shared -fvisibility=hidden -Wno-deprecated-declarations \
    -DUSE_C10D_NCCL -DUSE_C10D_GLOO -DUSE_DISTRIBUTED \
    -I"$torch/include" -I"$torch/include/torch/csrc/api/include" -ISources/CTorch "${includes[@]}" \
    plugins/nccl/edlcm_nccl.cpp -o "$out.tmp" \
    -L"$torch/lib" -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -ltorch_cpu -lc10 -Wl,--as-needed
mv "$out.tmp" "$out"
echo "$out: NCCL plug-in for torch $(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$torch/version.py" 2>/dev/null)"
