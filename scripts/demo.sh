#!/usr/bin/env bash
# Install, then run the main job on an embedded default: a generated head-CT phantom with known
# truth goes through the whole pipeline (localise, segment with the bundled models, measure).
# Seed 100010 is never used in training; a whole-head, closed-mouth scan is the common clinical case.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
out="${1:-demo_output}"
.venv/bin/nvseg phantom "$out/phantom" --seed 100010 --fov head --mouth closed
.venv/bin/nvseg run "$out/phantom/ct.nii.gz" -o "$out/run"
# the same measurement from the phantom's true condyle / temporal-bone labels (engine alone)
.venv/bin/nvseg negative-volume "$out/phantom/labels.nii.gz" --ct "$out/phantom/ct.nii.gz" -o "$out/from_truth_labels"
echo "truth:          $out/phantom/truth.json"
echo "pipeline:       $out/run/ct/report.json, $out/run/ct/report.png, $out/run/cohort.csv"
echo "engine alone:   $out/from_truth_labels/report.json"
