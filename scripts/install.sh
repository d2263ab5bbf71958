#!/usr/bin/env bash
# Install NegativeVolumeSegmentation into a virtual environment (.venv by default).
#   bash scripts/install.sh          # the library, the nvseg command and torch
#   bash scripts/install.sh test     # the same plus what the test suite needs (pytest, slicer-core)
# torch: where no NVIDIA GPU is present `torch==2.13.0` (on these machines a local CPU wheel; from
# PyPI its default build; Python 3.9: the newest torch for it), the newest default (CUDA) build
# where one is. Override with NVSEG_TORCH="<pip spec>", e.g. the CPU build from PyPI:
# NVSEG_TORCH="torch --index-url https://download.pytorch.org/whl/cpu".
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
# torch first: the test extra's torchio asks for any torch, and pip would otherwise pull the
# newest default (CUDA) build with ~3 GB of NVIDIA libraries before the choice below is made.
if [ -n "${NVSEG_TORCH:-}" ]; then
  torch_spec="$NVSEG_TORCH"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  torch_spec="torch"
elif "$venv/bin/python" -c "import sys; sys.exit(sys.version_info < (3, 10))"; then
  torch_spec="torch==2.13.0"
else
  torch_spec="torch"     # Python 3.9: the newest torch that still supports it
fi
if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  "${pip[@]}" $torch_spec   # unquoted: a spec may carry pip options
fi
# slicer-core pins its own vtk: install it (through the test extra) together with the library so
# that pip resolves one vtk for both.
"${pip[@]}" -e ".${extras}"
echo "installed into $venv: $("$venv/bin/python" -c 'import NegativeVolumeSegmentationLib as m, torch; print("nvseg", m.__version__, "torch", torch.__version__)')"
