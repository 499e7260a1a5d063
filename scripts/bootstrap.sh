#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, and nothing that is already there.
# Everything comes from Debian's archive (apt-get) or, for the test-only Python packages safetensors
# and pyautoattack (the reference AutoAttack code the attack tests compare with), from PyPI into a
# virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libtorch-dev libgloo-dev dataset-fashion-mnist zlib1g-dev libjpeg62-turbo-dev libssl-dev)
if [ "${1:-}" = "--test" ]; then
    packages+=(python3-torch python3-venv python3-pip python3-pil chromium fonts-dejavu-core)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ] && ! .venv/bin/python -c "import torch, safetensors, pyautoattack" 2>/dev/null; then
    echo "bootstrap: creating .venv (Debian's python3 with torch, plus safetensors from PyPI)"
    rm -rf .venv
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --quiet --disable-pip-version-check safetensors pyautoattack==0.2.0
fi
