#!/usr/bin/env bash
# Install what the tests need (into .venv), build the Slicer twins (.envs/) and run the
# whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
# Slicer's VTK generations (9.2.6 ... 9.5.2 on Python 3.9) for Testing/engine/test_vtk_versions.py:
# cached under .envs/ (about 2 minutes from PyPI the first time, instant after); offline, the
# test skips.
.venv/bin/python scripts/engine_vtk_matrix.py --build-only \
    || echo "warning: VTK matrix environments not built: test_vtk_versions.py will skip" >&2
# the Slicer twins (.envs/slicer-5.8, .envs/slicer-5.10): Slicer's own package sets, for
# Testing/twins (cached; a few ms when up to date, ~2-3 min to build)
bash scripts/slicer_twins.sh
exec .venv/bin/python -m pytest "$@"
