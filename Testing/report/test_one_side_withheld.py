"""When one side's "condyle" is other bone, the other joint is measured as if it were alone.

1. The joints' left-right axis (engine/joint_bounds.joints_axis): the condyles' axis, unless it
leans from the head's own (the normal of its mid-sagittal plane) by more than 5 degrees.

Both joints' frames are built before the gate has judged either side; what was taken for one
condyle may be other bone, and the other side's frame would lean with it. Inputs built by hand: box joints (the quality gate's,
Testing/report/test_quality_gate.py) on a 0.5 mm grid in an analytic head CT that is mirror-
symmetric about x = 0 by construction, so its left-right axis is LPS +x exactly. The left
"condyle" is moved 15 mm up and 10 mm forwards onto its temporal bone (other bone, touching:
withheld), which leans the condyles' axis by 11 degrees. Truths: the head's axis (+x), and the
right joint's landmarks as measured beside a healthy left joint at its mirror place, whose
centres' axis is +x too (the same right joint, the same frame: the same numbers).

2. The pair check's reasons (inference/pair_check.py: too close or far apart, not mirror images,
sizes 1.6-fold apart) withhold both sides when each passes its own checks (either may be the
other bone); when one fails its own, the other is measured on its own where the head confirms
its place (quality.gate_measured, inference/pair_check.stands_alone).
"""

import re

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib import pipeline, quality
from NegativeVolumeSegmentationLib.engine.joint_bounds import (CONDYLE_PAIR, HEAD_PLANE,
                                                               MAX_PAIR_LEAN_DEG, lean_deg)

SPACING = 0.5
JOINT_X = 45.0                    # each condyle's centre, mm either side of the midline
MOVED = (0.0, -10.0, 15.0)        # the bogus left "condyle": forwards (LPS -y) and up
HEAD = (75.0, 95.0, 85.0)         # the head's ellipsoid semi-axes (mm)
CT_SPACING = (1.0, 1.0, 2.0)


def _box(x, y, z, lo, hi):
    return ((x >= lo[0]) & (x < hi[0]) & (y >= lo[1]) & (y < hi[1]) & (z >= lo[2])
            & (z < hi[2]))


def _joint(array, x, y, z, side, centre, gap):
    """Condyle box 16 x 8 x 15 mm with its top at ``centre``'s z, a temporal-bone plate
    24 x 16 x 2 mm ``gap`` above it (0: touching over 128 mm2)."""
    cx, cy, cz = centre
    array[_box(x, y, z, (cx - 8, cy - 4, cz - 15), (cx + 8, cy + 4, cz))] = L.CONDYLE[side]
    array[_box(x, y, z, (cx - 12, cy - 8, cz + gap), (cx + 12, cy + 8, cz + gap + 2))] = \
        L.TEMPORAL_BONE[side]


def _labels(bogus_left, left_gap=2.0):
    size_mm, centre = (130.0, 60.0, 60.0), (0.0, -5.0, 0.0)
    size = [int(round(s / SPACING)) for s in size_mm]
    origin = [c - s / 2.0 + SPACING / 2.0 for c, s in zip(centre, size_mm)]
    k, j, i = np.indices(size[::-1])
    x, y, z = (origin[0] + SPACING * i, origin[1] + SPACING * j, origin[2] + SPACING * k)
    array = np.zeros(size[::-1], np.uint8)
    _joint(array, x, y, z, L.RIGHT, (-JOINT_X, 0.0, 0.0), gap=2.0)
    if bogus_left:
        _joint(array, x, y, z, L.LEFT, np.add((JOINT_X, 0.0, 0.0), MOVED), gap=0.0)
    else:
        _joint(array, x, y, z, L.LEFT, (JOINT_X, 0.0, 0.0), gap=left_gap)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([SPACING] * 3)
    image.SetOrigin(origin)
    return image


def _head_ct():
    """int16 HU: a soft-tissue ellipsoid with a bony shell, dense balls at both joints and a
    midline nose in front; mirror-symmetric about x = 0."""
    axes = [np.arange(-110.0, 110.0 + 1e-6, s) for s in CT_SPACING]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    radius = np.sqrt((x / HEAD[0]) ** 2 + (y / HEAD[1]) ** 2 + (z / HEAD[2]) ** 2)
    hu = np.full(x.shape, -1000.0, np.float32)
    hu[radius <= 1.0] = 40.0
    hu[(radius > 0.92) & (radius <= 1.0)] = 900.0
    for cx, cy, cz in ((JOINT_X, 0.0, 10.0), (-JOINT_X, 0.0, 10.0), (0.0, -85.0, -20.0)):
        hu[(x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= 81.0] = 1200.0
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing(CT_SPACING)
    image.SetOrigin([float(a[0]) for a in axes])
    return image


@pytest.fixture(scope="module")
def reports():
    ct = _head_ct()
    return {"healthy": pipeline.measure_labels(_labels(False), ct=ct).report,
            "bogus": pipeline.measure_labels(_labels(True), ct=ct).report,
            "bogus, no CT": pipeline.measure_labels(_labels(True)).report}


def test_two_kept_sides_keep_the_condyles_axis(reports):
    report = reports["healthy"]
    for side in L.SIDES:
        bounds = report[side]["joint_bounds"]
        assert bounds["lateral_axis_from"] == CONDYLE_PAIR
        assert lean_deg(bounds["lateral_axis_lps"], [1.0, 0.0, 0.0]) < 0.01


def test_a_condyle_off_the_heads_axis_leaves_the_other_joint_as_it_was(reports):
    report = reports["bogus"]
    assert report["left"] is None
    assert "touch over" in report["quality"]["left"]["reason"]      # withheld, and why
    pair = np.subtract(np.add((JOINT_X, 0.0, 0.0), MOVED), (-JOINT_X, 0.0, 0.0))
    assert lean_deg(pair / np.linalg.norm(pair), [1.0, 0.0, 0.0]) > 2 * MAX_PAIR_LEAN_DEG
    bounds = report["right"]["joint_bounds"]
    assert bounds["lateral_axis_from"] == HEAD_PLANE
    said = [re.search(r"the line through the two condyles' centres leans ([0-9.]+) degrees from "
                      r"the head's left-right axis", w) for w in report["warnings"]]
    leans = [float(m.group(1)) for m in said if m]
    assert leans and leans[0] == pytest.approx(11.4, abs=0.5), report["warnings"]  # 6 mm voxels
    assert lean_deg(bounds["lateral_axis_lps"], [1.0, 0.0, 0.0]) < 2.0   # 6 mm search voxels
    healthy = reports["healthy"]["right"]
    for key in ("head_width_mm", "eminence_depth_mm", "postglenoid_depth_mm", "apex_height_mm"):
        want = healthy["joint_bounds"][key]
        assert bounds[key] == pytest.approx(want, abs=0.1), key
    assert report["right"]["joint_space_superior_mm"] == pytest.approx(
        healthy["joint_space_superior_mm"], abs=0.05)
    for key in ("joint_space_anterior_mm", "joint_space_posterior_mm"):   # the tangent points
        # lie on the box's edges, where the plane's 0.1 degree from +x moves them by 0.16 mm
        assert report["right"][key] == pytest.approx(healthy[key], abs=0.2), key
    for key in ("negative_volume_mm3", "joint_space_min_mm", "joint_space_mean_mm"):
        assert report["right"][key] == pytest.approx(healthy[key], rel=1e-6), key


def test_without_a_ct_the_condyles_axis_is_all_there_is(reports):
    """A label map alone has no head to take the axis from: the condyles' axis stays, and says
    so (report.json's joint_bounds.lateral_axis_from)."""
    bounds = reports["bogus, no CT"]["right"]["joint_bounds"]
    assert bounds["lateral_axis_from"] == CONDYLE_PAIR
    assert lean_deg(bounds["lateral_axis_lps"], [1.0, 0.0, 0.0]) > 2 * MAX_PAIR_LEAN_DEG


PAIR = ["the condyles found differ 2.2-fold in volume (753 vs 1672 mm3)"]


@pytest.mark.parametrize("left_gap, confirmed, right_kept", [
    (2.0, True, False),     # each passes alone: either may be other bone, both withheld
    (0.0, None, False),     # the left fails alone, nothing confirms the right's place: withheld
    (0.0, False, False),    # ... the head does not confirm it (not 35-65 mm from its plane)
    (0.0, True, True),      # ... the head confirms it: measured on its own, with a caution
])
def test_the_pairs_reasons_and_a_side_measured_on_its_own(left_gap, confirmed, right_kept):
    """The pair's reasons withhold both sides when each passes its own checks. When the left
    fails its own (bones touching), it is withheld for that alone; the right is measured on its
    own only where the head confirms its place (a failing side may be the true joint, and the
    passing one other bone)."""
    from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume

    labels = _labels(False, left_gap)
    nv = measure_negative_volume(labels)
    scan = quality.check_scan(labels, intensities=False)
    asked = []

    def stands_alone(values):
        asked.append(values["condyle_center_lps_mm"][0])
        return confirmed

    sides, block, cautions = quality.gate_measured(
        nv, scan, [], pair_reasons=PAIR, stands_alone=None if confirmed is None else stands_alone)
    if left_gap > 0:
        for side in L.SIDES:
            assert sides[side] is None and block[side]["reason"] == PAIR[0]
        assert asked == []
        return
    assert sides["left"] is None and block["left"]["reason"].startswith(
        "condyle and temporal bone touch over 128 mm2")
    assert "2.2-fold" not in block["left"]["reason"]
    if confirmed is not None:
        assert asked == [pytest.approx(-JOINT_X)]     # the right condyle's place was asked
    if not right_kept:
        assert sides["right"] is None and block["right"]["reason"] == PAIR[0]
        return
    assert sides["right"]["negative_volume_mm3"] > 0 and block["right"]["measurable"]
    assert any(c.startswith("right side: measured on its own, as the left side is not "
                            "measurable") and c.endswith(PAIR[0]) for c in cautions), cautions
