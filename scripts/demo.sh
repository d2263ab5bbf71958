#!/usr/bin/env bash
# Install, then run the main job on an embedded default: a generated head phantom with known truth.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
out="${1:-demo_output}"
.venv/bin/nvseg phantom "$out/phantom" --seed 0
.venv/bin/nvseg negative-volume "$out/phantom/labels.nii.gz" --ct "$out/phantom/ct.nii.gz" -o "$out/result"
echo "truth:  $out/phantom/truth.json"
echo "report: $out/result/report.json"
