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
# Test files run in parallel (pytest-xdist, one file per worker at a time: a file's fixtures are
# built once): one worker per core, at most one per 6 GB of available memory (a real-head
# run peaks at 1.1-2.4 GB, docs/results.md, beside the test's own arrays) and at most 4; NVSEG_TEST_WORKERS overrides (0: in this process).
workers="${NVSEG_TEST_WORKERS:-$(.venv/bin/python - <<'PY'
import os
try:
    with open("/proc/meminfo") as meminfo:
        available_gb = next(int(line.split()[1]) for line in meminfo
                            if line.startswith("MemAvailable")) / 2 ** 20
except (OSError, StopIteration, ValueError):          # no /proc (macOS): the machine's memory
    available_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
workers = max(1, min(os.cpu_count() or 1, int(available_gb // 6), 4))
print(workers if workers > 1 else 0)      # one worker: in this process
PY
)}"
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
