#!/usr/bin/env bash
# Install what the tests need (into .venv), build the Slicer twins (.envs/) and run the
# whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
# the Slicer twins (.envs/slicer-5.8, .envs/slicer-5.10): Slicer's own package sets, for
# Testing/twins (cached; a few ms when up to date, ~2-3 min to build)
bash scripts/slicer_twins.sh
exec .venv/bin/python -m pytest "$@"
