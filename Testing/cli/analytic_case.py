"""The analytic phantom case the ``nvseg negative-volume`` tests measure, and the helpers they
share (test_cli_negative_volume_outputs.py, test_cli_negative_volume_ct.py,
test_cli_negative_volume_labels.py; the ``case`` fixture in conftest.py).

The case is the analytic phantom (phantom/analytic.py: joint spaces 2 and 3 mm) written as a
label map and its CT; its negative volumes are known in closed form (``ph.truth``).
"""

import argparse
import json
import os

from NegativeVolumeSegmentationLib.cli import negative_volume as cli_negative_volume
from NegativeVolumeSegmentationLib.phantom import write_phantom
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom


def write_case(folder):
    """The analytic phantom, written into ``folder`` (labels.nii.gz, ct.nii.gz, ...)."""
    ph = make_analytic_phantom(seed=8, left={"joint_space_mm": 2.0}, right={"joint_space_mm": 3.0})
    write_phantom(ph, str(folder))
    return ph


def run_negative_volume(argv):
    """The exit status of ``nvseg negative-volume ARGV`` (InputError raised, not caught)."""
    parser = argparse.ArgumentParser(prog="nvseg")
    cli_negative_volume.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["negative-volume"] + argv)
    return args.func(args)


def read_report(folder):
    with open(os.path.join(str(folder), "report.json")) as f:
        return json.load(f)


def assert_near_truth(report, ph, tolerance=0.06):
    """Both sides' NV within ``tolerance`` of the analytic phantom's closed-form truth."""
    for side in ("left", "right"):
        truth = ph.truth[side]["negative_volume_mm3"]
        got = report[side]["negative_volume_mm3"]
        assert abs(got / truth - 1) < tolerance, (side, got, truth)
