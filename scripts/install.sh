#!/usr/bin/env bash
# Install NegativeVolumeSegmentation into a virtual environment (.venv by default).
#   bash scripts/install.sh          # the library, the nvseg command and torch
#   bash scripts/install.sh test     # the same plus what the test suite needs (pytest, slicer-core)
# torch: the CPU build where no NVIDIA GPU is present (on these machines `torch==2.13.0` resolves to
# a local CPU wheel), the default CUDA build where one is. Override with NVSEG_TORCH="<pip spec>".
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${NVSEG_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
extras=""
if [ "${1:-}" = "test" ]; then extras="[test]"; fi
# slicer-core pins its own vtk: install it (through the test extra) together with the library so
# that pip resolves one vtk for both.
"${pip[@]}" -e ".${extras}"
if [ -n "${NVSEG_TORCH:-}" ]; then
  torch_spec="$NVSEG_TORCH"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  torch_spec="torch"
else
  torch_spec="torch==2.13.0"
fi
if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  "${pip[@]}" "$torch_spec"
fi
echo "installed into $venv: $("$venv/bin/python" -c 'import NegativeVolumeSegmentationLib as m, torch; print("nvseg", m.__version__, "torch", torch.__version__)')"
