"""Head phantom: CT look, anatomy in physical space, labels, determinism, FOV crops and NV truth.

Every check measures the generated image / labels against independent truth: drawn parameters,
closed-form volumes, physical geometry (LPS: the patient's left is +x).
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.phantom import shapes as S
from NegativeVolumeSegmentationLib.phantom.head import make_head_phantom
from NegativeVolumeSegmentationLib.phantom.truth import JointSpaceTruth


def _arrays(ph):
    return sitk.GetArrayFromImage(ph.ct), sitk.GetArrayFromImage(ph.labels)


def _centroid_lps(labels_image, value):
    arr = sitk.GetArrayFromImage(labels_image)
    kz, jy, ix = np.nonzero(arr == value)
    idx = np.stack([ix, jy, kz], 1).mean(0)
    return np.array(labels_image.TransformContinuousIndexToPhysicalPoint(idx.tolist()))


@pytest.fixture(scope="module")
def head():
    """Whole-head field of view, coarse grid, closed mouth (seed 5)."""
    return make_head_phantom(seed=5, fov="head", mouth="closed", spacing=(1.0, 1.0, 2.0))


@pytest.fixture(scope="module")
def cbct_left():
    """CBCT-like crop of the left joint only, 0.5 mm voxels, open mouth (seed 2)."""
    return make_head_phantom(seed=2, fov="cbct-left", mouth="open", spacing=(0.5, 0.5, 0.5))


def test_sphere_under_concentric_cap_truth_is_exact():
    """NV of a ball (r) under a spherical cap (inner radius R, half-angle θ): (2π(1-cosθ)/3)(R³-r³).

    The TB the rays see is restricted to 25 mm around the condyle exactly as in the head phantom;
    a bone block 30 mm away (beyond that region) must change nothing.
    """
    r, R, theta = 5.0, 8.0, np.radians(55.0)
    centre = np.array([3.0, -2.0, 1.0])
    condyle = S.Ellipsoid(centre, [r, r, r])

    class Cone(S.Shape):  # points within θ of superior, seen from the centre
        def f(self, x, y, z):
            dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
            rho = np.sqrt(dx * dx + dy * dy + dz * dz)
            return (np.arccos(np.clip(dz / np.maximum(rho, 1e-9), -1, 1)) - theta) * rho

    cap = S.Intersection([S.EllipsoidShell(centre, [R + 2.5] * 3, 2.5), Cone()])
    far_block = S.Ellipsoid(centre + [0.0, 0.0, 30.0], [6.0, 6.0, 6.0])
    bone = S.Union([cap, far_block])
    tb = S.Intersection([bone, S.Ellipsoid(centre, [25.0] * 3)])
    nv = JointSpaceTruth(condyle, tb, centre - 6.0, centre + 6.0)
    exact = 2 * np.pi * (1 - np.cos(theta)) / 3 * (R ** 3 - r ** 3)
    assert nv.volume(step=0.1) == pytest.approx(exact, rel=0.005)
    # the rays are radial: every hit has h = R - r
    assert np.allclose(nv.h[nv.h > 0], R - r, atol=0.01)
    # the far block is bone but not TB: unrestricted it would not be reached either, and the
    # restricted TB is empty there
    assert float(tb(np.array([centre + [0.0, 0.0, 30.0]]))[0]) > 0
    assert float(bone(np.array([centre + [0.0, 0.0, 30.0]]))[0]) < 0


def test_hu_of_tissues_measured_in_the_image(head):
    ct, lab = _arrays(head)
    p = head.truth["parameters"]
    spacing = np.array(head.ct.GetSpacing())[::-1]
    # air: the image corners lie outside the head
    corners = np.array([ct[k, j, i] for k in (0, -1) for j in (0, -1) for i in (0, -1)])
    assert np.median(corners) == pytest.approx(-1000, abs=3 * p["noise_std_hu"] + 10)
    # cortical bone: the bright tail of the temporal bone label
    tb_hu = ct[np.isin(lab, (3, 4))]
    assert 900 <= np.percentile(tb_hu, 97) <= 1900
    assert np.percentile(tb_hu, 97) == pytest.approx(p["hu"]["cortical"], rel=0.25)
    # cancellous bone: the condyle deeper than 2.5 mm from its surface
    depth = ndimage.distance_transform_edt(np.isin(lab, (1, 2)), sampling=spacing)
    core = ct[depth > 2.5]
    assert core.size > 20
    assert 150 <= np.median(core) <= 700
    assert np.median(core) == pytest.approx(p["hu"]["cancellous"], abs=120)
    # soft tissue: joint space farther than 1.5 mm from both bones
    bone_dist = ndimage.distance_transform_edt(~np.isin(lab, (1, 2, 3, 4)), sampling=spacing)
    soft = ct[np.isin(lab, (5, 6)) & (bone_dist > 1.5)]
    assert soft.size > 20
    assert 0 <= np.median(soft) <= 100
    # noise: the std of the air outside the head matches the drawn noise level
    air = ct[:, :8, :8].astype(float)
    assert air.std() == pytest.approx(p["noise_std_hu"], rel=0.3)


def test_joints_in_physical_space(head):
    left = _centroid_lps(head.labels, 1)
    right = _centroid_lps(head.labels, 2)
    assert left[0] > right[0]  # the patient's left is +x in LPS
    assert 90.0 <= np.linalg.norm(left - right) <= 110.0
    for side, value in (("left", 1), ("right", 2)):
        truth = np.array(head.truth[side]["condyle_center_lps_mm"])
        assert np.linalg.norm(_centroid_lps(head.labels, value) - truth) < 1.0
        # the temporal bone lies above the condyle along the head's superior axis
        tb = _centroid_lps(head.labels, value + 2)
        pose = np.radians(head.truth["parameters"]["pose_deg"])
        up = S.rotation(*np.degrees(pose)).dot([0.0, 0.0, 1.0])
        assert (tb - truth).dot(up) > 3.0


def test_labels_present_with_sensible_sizes(head):
    _, lab = _arrays(head)
    voxel = float(np.prod(head.ct.GetSpacing()))
    assert set(np.unique(lab)) == {0, 1, 2, 3, 4, 5, 6}
    for side, value in (("left", 1), ("right", 2)):
        t = head.truth[side]
        a, b, c = head.truth["parameters"][side]["condyle_semi_axes_mm"]
        ellipsoid = 4.0 / 3.0 * np.pi * a * b * c  # the condylar head alone
        neck_bound = np.pi * (0.55 * a) * (0.85 * b) * 15.0  # neck cylinder over the 15 mm MC
        assert ellipsoid <= t["condyle_volume_mm3"] <= 1.15 * (ellipsoid + neck_bound)
        assert 300 <= t["condyle_volume_mm3"] <= 3500
        counted = (lab == value).sum() * voxel
        assert counted == pytest.approx(t["condyle_volume_mm3"], rel=0.08)
        # TB label: only within 25 mm of the condyle (+ half a voxel diagonal)
        kz, jy, ix = np.nonzero(lab == value + 2)
        pts = np.array([head.labels.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))
                        for i, j, k in zip(ix[::7], jy[::7], kz[::7])])
        centre = np.array(t["temporal_bone_region_center_lps_mm"])
        dist = np.linalg.norm(pts - centre, axis=1)
        assert dist.max() <= 25.0 + 0.5 * np.linalg.norm(head.ct.GetSpacing())
        assert dist.max() > 20.0
    # NV truth vs the NV label on a 1 x 1 x 2 mm grid
    for side, value in (("left", 5), ("right", 6)):
        counted = (lab == value).sum() * voxel
        assert counted == pytest.approx(head.truth[side]["negative_volume_mm3"], rel=0.12)


def test_cbct_crop_of_one_joint(cbct_left):
    truth = cbct_left.truth
    assert truth["right"] is None
    assert truth["left"] is not None
    assert truth["parameters"]["mouth"] == "open"
    _, lab = _arrays(cbct_left)
    assert set(np.unique(lab)) == {0, 1, 3, 5}
    size_mm = np.array(cbct_left.ct.GetSize()) * np.array(cbct_left.ct.GetSpacing())
    assert np.all(size_mm <= 80.0)
    voxel = float(np.prod(cbct_left.ct.GetSpacing()))
    # at 0.5 mm the NV label count matches the fine-grid truth closely
    assert (lab == 5).sum() * voxel == pytest.approx(truth["left"]["negative_volume_mm3"],
                                                     rel=0.05)
    assert (lab == 1).sum() * voxel == pytest.approx(truth["left"]["condyle_volume_mm3"],
                                                     rel=0.04)


def test_same_seed_same_phantom_and_other_seed_differs(cbct_left):
    again = make_head_phantom(seed=2, fov="cbct-left", mouth="open", spacing=(0.5, 0.5, 0.5))
    a_ct, a_lab = _arrays(cbct_left)
    b_ct, b_lab = _arrays(again)
    assert np.array_equal(a_ct, b_ct) and np.array_equal(a_lab, b_lab)
    assert json.dumps(cbct_left.truth, sort_keys=True) == json.dumps(again.truth, sort_keys=True)
    other = make_head_phantom(seed=3, fov="cbct-left", mouth="open", spacing=(0.5, 0.5, 0.5))
    assert other.truth["parameters"] != cbct_left.truth["parameters"]
    # options change the view, not the drawn anatomy: same seed, closed mouth, coarse grid
    closed = make_head_phantom(seed=2, fov="cbct-left", mouth="closed", spacing=(1.0, 1.0, 1.0))
    for key in ("condyle_semi_axes_mm", "joint_space_superior_mm", "axis_angle_deg"):
        assert closed.truth["parameters"]["left"][key] == cbct_left.truth["parameters"]["left"][key]
    assert closed.truth["parameters"]["pose_deg"] == cbct_left.truth["parameters"]["pose_deg"]
    assert closed.truth["parameters"]["left"]["translation_forward_mm"] == 0.0
    forward = cbct_left.truth["parameters"]["left"]["translation_forward_mm"]
    assert forward > 5.0
    # measured: the open condyle's label sits forward (onto the eminence) and lower
    rot = S.rotation(*closed.truth["parameters"]["pose_deg"])
    shift = _centroid_lps(cbct_left.labels, 1) - _centroid_lps(closed.labels, 1)
    assert shift.dot(rot.dot([0.0, -1.0, 0.0])) > 0.5 * forward
    assert shift.dot(rot.dot([0.0, 0.0, -1.0])) > 0.5


def test_grid_shift_moves_the_voxels_under_the_same_head():
    """``grid_shift_mm`` samples the same head elsewhere: the origin moves by the shift, the
    truth (implicit geometry) stays, the labels change voxel by voxel while the labelled
    condyle's physical centroid stays on the truth's condyle centre (within 0.1 mm)."""
    base = make_head_phantom(seed=3, fov="cbct-left", mouth="closed", spacing=(0.8, 0.8, 1.5))
    moved = make_head_phantom(seed=3, fov="cbct-left", mouth="closed", spacing=(0.8, 0.8, 1.5),
                              grid_shift_mm=(0.3, 0.0, 0.75))
    assert np.allclose(np.subtract(moved.ct.GetOrigin(), base.ct.GetOrigin()), [0.3, 0.0, 0.75])
    for key in ("negative_volume_mm3", "condyle_volume_mm3"):
        assert moved.truth["left"][key] == base.truth["left"][key]
    assert moved.truth["parameters"]["grid_shift_mm"] == [0.3, 0.0, 0.75]
    assert "grid_shift_mm" not in base.truth["parameters"]
    a, b = sitk.GetArrayFromImage(base.labels), sitk.GetArrayFromImage(moved.labels)
    assert a.shape == b.shape and (a != b).mean() > 1e-3
    centre = np.array(base.truth["left"]["condyle_center_lps_mm"])
    for ph in (base, moved):
        assert np.linalg.norm(_centroid_lps(ph.labels, 1) - centre) < 0.1
    with pytest.raises(InputError):
        make_head_phantom(seed=3, fov="cbct-left", spacing=(1.0, 1.0, 1.0), grid_shift_mm=(0, 1))


def test_drawn_superior_joint_space_matches_geometry(cbct_left):
    """The gap straight above the condyle top equals the drawn superior joint space."""
    t = cbct_left.truth["left"]
    assert 0.5 <= t["joint_space_superior_mm"] <= 5.0
    pose = cbct_left.truth["parameters"]["pose_deg"]
    up = S.rotation(*pose).dot([0.0, 0.0, 1.0])
    top = np.array(t["joint_top_lps_mm"])
    # sample the labels along the superior ray from the top: first TB voxel at ~ the gap
    lab = cbct_left.labels
    arr = sitk.GetArrayFromImage(lab)
    first_tb = None
    for d in np.arange(0.0, 8.0, 0.05):
        idx = lab.TransformPhysicalPointToIndex((top + d * up).tolist())
        if arr[idx[2], idx[1], idx[0]] == 3:
            first_tb = d
            break
    assert first_tb is not None
    assert first_tb == pytest.approx(t["joint_space_superior_mm"], abs=0.5)


def test_bad_options_raise_input_error():
    with pytest.raises(InputError):
        make_head_phantom(seed=0, fov="panoramic")
    with pytest.raises(InputError):
        make_head_phantom(seed=0, mouth="half")
    with pytest.raises(InputError):
        make_head_phantom(seed=0, spacing=(0.0, 1.0, 1.0))
    with pytest.raises(InputError):
        make_head_phantom(seed=-1)
    with pytest.raises(InputError):  # far over the voxel limit
        make_head_phantom(seed=0, fov="head", spacing=(0.1, 0.1, 0.1))
