#!/usr/bin/env bash
# Makes a virtual environment holding PyPI's torch (its libtorch: torch/include and torch/lib) for
# building edlcm against libtorch 2.x on a CPU machine: `scripts/pytorch-venv.sh [DIR] [VERSION]`
# (default .venv-torch2 and 2.15.0). It installs torch without its dependencies, plus the two CUDA
# runtime wheels that PyPI's libtorch_cpu.so itself links (libcudart, libcupti): what a CPU build
# loads, about 1.5 GB instead of the full CUDA stack. Nothing is installed when the folder already
# holds that version. Build with it: PATH=DIR/bin:$PATH LIBTORCH_USE_PYTORCH=1 swift build …
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-torch2}"
version="${2:-2.15.0}"
if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null)" = "$version" ]; then
    exit 0
fi
echo "pytorch-venv: installing torch==$version (no dependencies) and its CUDA runtime wheels into $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "torch==$version"
# The CUDA runtime and profiler wheels at the versions this torch pins (its cuda-toolkit==X requirement).
toolkit=$("$venv/bin/python" -c "
import importlib.metadata as m, re
for r in m.requires('torch') or []:
    found = re.match(r'cuda-toolkit\[.*\]==([0-9.]+)', r)
    if found: print(found.group(1)); break")
if [ -n "$toolkit" ]; then
    # (pip then lists torch's other requirements as missing, on purpose: its report is kept quiet
    # unless the install fails.)
    "$venv/bin/pip" install --quiet --disable-pip-version-check "cuda-toolkit[cudart,cupti]==$toolkit" 2>"$venv/pip.log" || {
        cat "$venv/pip.log" >&2
        exit 1
    }
fi
