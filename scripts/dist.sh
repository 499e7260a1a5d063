#!/usr/bin/env bash
# Builds a self-contained edlcm for machines that have PyTorch but no Swift (a GPU server):
#   scripts/dist.sh TORCH_DIR      (the torch/ folder of a PyTorch 2.x install or wheel, with include/ and lib/)
# or LIBTORCH_USE_PYTORCH=1 scripts/dist.sh (the torch of the python3 on the PATH).
# The bundle dist/edlcm-VERSION-torchX.Y-linux-ARCH.tar.gz holds bin/edlcm (the Swift runtime and
# Foundation linked in, stripped), lib/ with the few libraries it needs that a machine with PyTorch may
# lack (libjpeg, libcrypto, zlib) and the NCCL plug-in for a CUDA torch (libedlcm_nccl.so), and edlcm, a launcher that finds the installed PyTorch's torch/lib
# (EDLCM_TORCH=DIR, else `python3 -c 'import torch'`'s folder found without importing it), checks
# that its version is the one the bundle was built against (libtorch's C++ ABI changes between minor
# versions), and runs bin/edlcm with those libraries. libtorch's CUDA library is loaded only when a
# CUDA device is asked for, so the same bundle runs on CPU machines.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ge 1 ]; then
    export LIBTORCH="$1"
elif [ -z "${LIBTORCH:-}" ] && [ "${LIBTORCH_USE_PYTORCH:-}" != 1 ]; then
    echo "usage: scripts/dist.sh TORCH_DIR (or LIBTORCH_USE_PYTORCH=1 scripts/dist.sh)" >&2
    exit 2
fi
if [ -z "${LIBTORCH:-}" ]; then
    LIBTORCH=$(python3 -c "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s else '')")
    [ -n "$LIBTORCH" ] || { echo "scripts/dist.sh: no torch package found by python3" >&2; exit 1; }
    export LIBTORCH
fi
[ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || { echo "scripts/dist.sh: $LIBTORCH/lib/libtorch_cpu.so: not found" >&2; exit 1; }
unset LIBTORCH_USE_PYTORCH
torch_version=$(sed -n "s/^__version__ = '\([0-9]*\.[0-9]*\)\..*/\1/p" "$LIBTORCH/version.py" 2>/dev/null || true)
[ -n "$torch_version" ] || torch_version=$(grep -h -m1 '#define TORCH_VERSION_MINOR' -B1 "$LIBTORCH"/include/torch/headeronly/version.h 2>/dev/null | awk '{print $3}' | paste -sd.)
[ -n "$torch_version" ] || { echo "scripts/dist.sh: cannot read the torch version under $LIBTORCH" >&2; exit 1; }

swift build -c release --product edlcm --static-swift-stdlib --scratch-path .build-dist
binary=.build-dist/release/edlcm
version=$("$binary" --version 2>/dev/null || LD_LIBRARY_PATH="$LIBTORCH/lib" "$binary" --version)
name="edlcm-$version-torch$torch_version-linux-$(uname -m)"
out="dist/$name"
rm -rf "$out" "dist/$name.tar.gz"
mkdir -p "$out/bin" "$out/lib"
cp "$binary" "$out/bin/edlcm"
strip "$out/bin/edlcm"
# The non-system libraries edlcm links beside libtorch's (resolved here; copied under their sonames).
for soname in $(readelf -d "$binary" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    case "$soname" in
    libjpeg.so.* | libcrypto.so.* | libz.so.*)
        cp -L "$(ldconfig -p | awk -v n="$soname" '$1 == n && /x86-64|x86_64|aarch64|AArch64/ {print $NF; exit}')" "$out/lib/$soname"
        ;;
    esac
done
# The NCCL plug-in (training on several GPUs, Sources/CTorch/ctorch_nccl_plugin.h), against the same
# torch and the CUDA/NCCL headers it pins: those of its nvidia-* wheels when they are installed beside
# it, else fetched alone (scripts/cuda-headers.sh). A CPU-only torch gets none.
if [ -f "$LIBTORCH/lib/libtorch_cuda.so" ]; then
    if [ -z "${CUDA_INCLUDE:-}" ] && [ ! -f "$LIBTORCH/../nvidia/nccl/include/nccl.h" ]; then
        ./scripts/cuda-headers.sh "$LIBTORCH" .build-dist/cuda-headers-"$torch_version"
        CUDA_INCLUDE=$(ls -d .build-dist/cuda-headers-"$torch_version"/nvidia/*/include | paste -sd:)
        export CUDA_INCLUDE
    fi
    ./scripts/nccl-plugin.sh "$LIBTORCH" "$out/lib/libedlcm_nccl.so"
    strip "$out/lib/libedlcm_nccl.so"
fi
cat >"$out/edlcm" <<LAUNCHER
#!/usr/bin/env sh
# Runs bin/edlcm against the installed PyTorch's libtorch (built against torch $torch_version).
here=\$(cd "\$(dirname "\$0")" && pwd)
torch=\${EDLCM_TORCH:-\$(\${PYTHON:-python3} -c "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s else '')" 2>/dev/null)}
if [ -z "\$torch" ] || [ ! -f "\$torch/lib/libtorch_cpu.so" ]; then
    echo "edlcm: no PyTorch found (install torch $torch_version for python3, or set EDLCM_TORCH to its torch/ folder)" >&2
    exit 1
fi
found=\$(sed -n "s/^__version__ = '\\([0-9]*\\.[0-9]*\\)\\..*/\\1/p" "\$torch/version.py" 2>/dev/null)
if [ -n "\$found" ] && [ "\$found" != "$torch_version" ]; then
    echo "edlcm: this bundle was built against torch $torch_version, \$torch holds torch \$found (build it with scripts/dist.sh against that one)" >&2
    exit 1
fi
LD_LIBRARY_PATH="\$torch/lib:\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$here/bin/edlcm" "\$@"
LAUNCHER
chmod +x "$out/edlcm"
tar -C dist -czf "dist/$name.tar.gz" "$name"
echo "dist/$name.tar.gz: $(du -h "dist/$name.tar.gz" | cut -f1) packed, bin/edlcm $(du -h "$out/bin/edlcm" | cut -f1)"
