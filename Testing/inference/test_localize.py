"""Joint localisation: anatomy checks on hand-made candidate sets, the head frame of a synthetic
head, and the whole localiser path with a hand-made "network" on a rotated CT (localize.py)."""

import numpy as np
import SimpleITK as sitk
import torch

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.inference import localize as Z
from NegativeVolumeSegmentationLib.inference.localize import Candidate, HeadFrame
from NegativeVolumeSegmentationLib.inference.head_grid import (aligned_grid, shrink_for,
                                                               smooth_resample)


def _rot(yaw_deg, roll_deg):
    a, b = np.radians(yaw_deg), np.radians(roll_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return rz @ ry


HEAD = HeadFrame(midline_x=0.0, top_z=120.0)


def test_symmetric_pair_sides_by_physical_x():
    chosen, warnings = Z.choose_joints([Candidate([-50, 5, 0], 0.9), Candidate([50, 5, 0], 0.8)],
                                       HEAD)
    assert chosen[L.LEFT].point[0] == 50 and chosen[L.RIGHT].point[0] == -50
    assert warnings == []


def test_rotated_head_pair_is_accepted():
    r = _rot(25, 20)
    a, b = r @ [50, 0, 0], r @ [-50, 0, 0]
    chosen, _ = Z.choose_joints([Candidate(a), Candidate(b)], HEAD)
    assert chosen[L.LEFT].point[0] > 0 and chosen[L.RIGHT].point[0] < 0


def test_distractors_rejected():
    pair = [Candidate([48, 0, -5], 0.7), Candidate([-47, 2, -3], 0.6)]
    near_top = Candidate([50, 0, 100], 0.99)          # 20 mm below the skull top
    too_close = Candidate([10, 0, -5], 0.95)           # 38 mm from the left joint
    off_midline = Candidate([140, 0, -5], 0.95)        # 92 mm from the left joint, midpoint 94 mm off
    chosen, _ = Z.choose_joints(pair + [near_top, too_close, off_midline], HEAD)
    assert chosen[L.LEFT] is pair[0] and chosen[L.RIGHT] is pair[1]


def test_pair_problems_named():
    assert "apart" in Z.pair_problems(Candidate([20, 0, 0]), Candidate([-20, 0, 0]), HEAD)[0]
    assert "apart" in Z.pair_problems(Candidate([80, 0, 0]), Candidate([-80, 0, 0]), HEAD)[0]
    assert "side by side" in Z.pair_problems(Candidate([0, 0, 0]), Candidate([10, 90, 0]), HEAD)[0]
    assert "midline" in Z.pair_problems(Candidate([90, 0, 0]), Candidate([-5, 0, 0]), HEAD)[0]
    assert "top" in Z.pair_problems(Candidate([50, 0, 70]), Candidate([-50, 0, 70]), HEAD)[0]


def test_single_joint_by_midline_other_side_none():
    chosen, warnings = Z.choose_joints([Candidate([-46, 0, 0])], HEAD)
    assert chosen[L.RIGHT] is not None and chosen[L.LEFT] is None
    assert any("only one joint" in w and "right" in w for w in warnings)


def test_single_joint_without_midline_uses_lateral_air():
    head = HeadFrame(midline_x=None, top_z=None, lateral_of=lambda p: 1)
    chosen, _ = Z.choose_joints([Candidate([3, 0, 0])], head)
    assert chosen[L.LEFT] is not None and chosen[L.RIGHT] is None
    head = HeadFrame(midline_x=None, top_z=None, lateral_of=lambda p: -1)
    chosen, _ = Z.choose_joints([Candidate([3, 0, 0])], head)
    assert chosen[L.RIGHT] is not None and chosen[L.LEFT] is None


def test_nothing_plausible():
    chosen, warnings = Z.choose_joints([Candidate([2, 0, 0], 0.9)], HEAD)  # on the midline
    assert chosen == {L.LEFT: None, L.RIGHT: None}
    assert any("no temporomandibular joint" in w for w in warnings)
    chosen, warnings = Z.choose_joints([], HEAD)
    assert chosen[L.LEFT] is None and warnings


def _synthetic_head(direction, spacing=(1.5, 1.5, 2.0), size=(140, 150, 110)):
    """Ellipsoid head (semi-axes 75 x 90 x 100 mm, centre (0, 0, 20)) with two bright 7 mm balls
    at (+-50, 5, -10) LPS; a rotated direction matrix, centred on the origin."""
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetDirection([float(v) for v in np.asarray(direction).ravel()])
    centre = (np.asarray(size) - 1) / 2.0 * np.asarray(spacing)
    image.SetOrigin([float(v) for v in -np.asarray(direction) @ centre])
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    idx = np.stack([i, j, k], -1).reshape(-1, 3).astype(float)
    pts = (idx * spacing) @ np.asarray(direction).T + image.GetOrigin()
    q = (pts - [0, 0, 20]) / [75.0, 90.0, 100.0]
    hu = np.where((q ** 2).sum(1) <= 1.0, 40.0, -1000.0)
    for x in (50.0, -50.0):
        hu[np.linalg.norm(pts - [x, 5.0, -10.0], axis=1) <= 7.0] = 3000.0
    arr = hu.reshape(size[::-1]).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


class MarkerNet(torch.nn.Module):
    """Stands in for a localiser: 'joint' wherever the normalised input is near 1 (3000 HU)."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 60.0 * (x - 0.8)], dim=1)


def test_localize_joints_on_rotated_ct():
    direction = _rot(20, -10)
    ct = _synthetic_head(direction)
    meta = {"target_spacing_mm": [3.0, 3.0, 3.0], "label_names": ["background", "joint"],
            "intensity": {"clip_hu": [-1000, 3000], "center_hu": 1000.0, "scale_hu": 2000.0}}
    result = Z.localize_joints(ct, MarkerNet().eval(), meta)
    assert np.linalg.norm(np.subtract(result.joints[L.LEFT], [50, 5, -10])) < 2.0
    assert np.linalg.norm(np.subtract(result.joints[L.RIGHT], [-50, 5, -10])) < 2.0
    assert result.warnings == []


def test_head_frame_of_synthetic_head():
    ct = _synthetic_head(np.eye(3), spacing=(2.0, 2.0, 2.0), size=(100, 110, 135))
    grid = aligned_grid(ct, (3.0, 3.0, 3.0))
    coarse = smooth_resample(ct, grid)
    frame = Z.head_frame(coarse)
    assert abs(frame.midline_at(-10.0)) < 3.0
    assert frame.top_z is not None and abs(frame.top_z - 120.0) < 4.0
    assert frame.lateral_of([70.0, 0.0, 0.0]) == 1       # air beyond x = +75 mm
    assert frame.lateral_of([-70.0, 0.0, 0.0]) == -1


def test_candidates_small_blobs_dropped_strongest_kept():
    grid = sitk.Image([60, 60, 60], sitk.sitkFloat32)
    grid.SetSpacing((3.0, 3.0, 3.0))
    prob = np.zeros((60, 60, 60), np.float32)
    for n in range(20):                          # 20 cubes of 2x2x2 voxels (216 mm3)
        z, y, x = 1 + 2 * n, 5 + (n % 5) * 10, 5 + (n // 5) * 10
        prob[z:z + 2, y:y + 2, x:x + 2] = 0.6 + 0.01 * n
    prob[1, 55, 55] = 0.99                       # one voxel (27 mm3): noise
    found = Z.candidates_from_probabilities(grid, prob)
    assert len(found) == Z.MAX_CANDIDATES
    assert [round(c.score, 2) for c in found] == [round(0.6 + 0.01 * n, 2)
                                                  for n in range(19, 19 - Z.MAX_CANDIDATES, -1)]
    assert all(c.volume_mm3 == 216.0 for c in found)
    assert np.allclose(found[0].point, [3.0 * 35.5, 3.0 * 45.5, 3.0 * 39.5])  # x, y, z


def test_shrink_keeps_the_physical_extent():
    ct = sitk.Image([120, 90, 60], sitk.sitkFloat32)
    ct.SetSpacing((0.5, 0.5, 1.0))
    small = shrink_for(ct, (3.0, 3.0, 3.0))
    assert small.GetSpacing() == (1.5, 1.5, 1.0)
    for image in (ct, small):
        lo = image.TransformContinuousIndexToPhysicalPoint((-0.5, -0.5, -0.5))
        assert np.allclose(lo, (-0.25, -0.25, -0.5))
