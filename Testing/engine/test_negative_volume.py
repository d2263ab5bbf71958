"""Negative volume of both joints against the analytic truth (closed form, Steiner integral)."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import integrate

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom
from NegativeVolumeSegmentationLib.phantom.analytic_truth import sphere_cap_negative_volume


def _rel(measured, truth):
    return abs(measured / truth - 1.0)


# (condyle radius r, joint space R - r, cap half-angle) in mm, mm, degrees. Full grids measured
# with this engine (docs/method.md, "Accuracy"): at 0.25 mm voxels, r 4/6/8 x R - r 0.5/1.5/4 x
# theta 30/55/80 (seed 12): all 27 within 2.3 %. At 0.5 mm, r 4/6/8 x R - r 0.5/1/2.5/5 x
# theta 30/55/80 (seed 5): R - r >= 1 mm 35 of 36 within 6 % (worst +6.9 %, r 8 / 1 / 80); a
# one-voxel gap (0.5 mm) is resolution-bound for small caps: even counting the voxel centres that
# lie inside the exact region scatters up to -11 % over 8 seeds for r 4 mm (NV 8-47 mm^3, 60-380
# voxels), and this engine scatters up to +-17 % there; from r 6 mm on it is within 6 % except at
# theta 80 degrees. The cases below (seed 11) measure +2.2, +0.9, +2.7, +0.2, +1.6, +0.9, +2.7,
# +5.5, -0.1 and +3.5 % at 0.5 mm, and -2.3, -0.7, -1.9, -2.0, +1.0, +0.1 % at 0.25 mm.
SPHERES_05 = [(4.0, 1.0, 30.0), (5.0, 1.0, 80.0), (6.0, 2.5, 55.0), (8.0, 5.0, 80.0),
              (8.0, 1.0, 80.0), (7.0, 3.5, 40.0), (8.0, 1.0, 55.0), (6.0, 0.5, 55.0),
              (8.0, 0.5, 30.0), (8.0, 0.5, 55.0)]
SPHERES_025 = [(4.0, 0.5, 30.0), (4.0, 0.5, 55.0), (6.0, 0.5, 80.0), (8.0, 0.5, 30.0),
               (6.0, 1.5, 55.0), (5.0, 4.0, 45.0)]


@pytest.mark.parametrize("r,gap,theta", SPHERES_05)
def test_sphere_cap_at_half_mm(r, gap, theta):
    ph = make_analytic_phantom(seed=11, sides=("left",), condyle_radius_mm=r,
                               joint_space_mm=gap, cap_half_angle_deg=theta)
    res = measure_negative_volume(ph.labels)
    left = res.sides["left"]
    truth = sphere_cap_negative_volume(r, r + gap, theta)
    assert ph.truth["left"]["negative_volume_mm3"] == pytest.approx(truth)
    assert _rel(left["negative_volume_mm3"], truth) < 0.06
    assert left["joint_space_mean_mm"] == pytest.approx(gap, abs=0.15)
    assert gap - 0.25 <= left["joint_space_min_mm"] <= gap + 0.02
    assert left["joint_space_superior_mm"] == pytest.approx(gap, abs=0.15)
    assert res.sides["right"] is None
    assert _rel(left["condyle_volume_mm3"], 4 / 3 * np.pi * r ** 3) < 0.03


@pytest.mark.parametrize("r,gap,theta", SPHERES_025)
def test_sphere_cap_at_quarter_mm(r, gap, theta):
    ph = make_analytic_phantom(seed=12, sides=("right",), spacing=(0.25,) * 3,
                               condyle_radius_mm=r, joint_space_mm=gap, cap_half_angle_deg=theta)
    right = measure_negative_volume(ph.labels).sides["right"]
    assert _rel(right["negative_volume_mm3"], sphere_cap_negative_volume(r, r + gap, theta)) < 0.03
    assert right["joint_space_mean_mm"] == pytest.approx(gap, abs=0.05)
    assert gap - 0.15 <= right["joint_space_min_mm"] <= gap + 0.02


@pytest.mark.parametrize("seed", [0, 2])
def test_ellipsoid_against_steiner_truth(seed):
    ph = make_analytic_phantom(seed=seed, variant="ellipsoid")
    res = measure_negative_volume(ph.labels)
    for side in L.SIDES:
        truth = ph.truth[side]
        assert _rel(res.sides[side]["negative_volume_mm3"], truth["negative_volume_mm3"]) < 0.05
        assert res.sides[side]["joint_space_mean_mm"] == pytest.approx(truth["joint_space_mm"],
                                                                      abs=0.1)
        assert np.allclose(res.sides[side]["condyle_center_lps_mm"],
                           truth["condyle_center_lps_mm"], atol=0.05)


@pytest.mark.parametrize("variant", ["sphere", "ellipsoid"])
def test_rotation_by_30_degrees_about_an_oblique_axis(variant):
    kw = dict(variant=variant, spacing=(0.4,) * 3, joint_space_mm=2.5, cap_half_angle_deg=60.0)
    plain = measure_negative_volume(make_analytic_phantom(seed=2, **kw).labels)
    turned = measure_negative_volume(make_analytic_phantom(
        seed=2, rotation_axis=[1.0, 2.0, 3.0], rotation_deg=30.0, **kw).labels)
    for side in L.SIDES:
        assert _rel(turned.sides[side]["negative_volume_mm3"],
                    plain.sides[side]["negative_volume_mm3"]) < 0.02


@pytest.fixture(scope="module")
def pair():
    ph = make_analytic_phantom(seed=3, spacing=(0.5,) * 3, left={"joint_space_mm": 1.5},
                               right={"joint_space_mm": 3.5})
    return ph, measure_negative_volume(ph.labels)


def test_two_sides_and_merged_labels(pair):
    ph, res = pair
    assert res.warnings == []
    lab = sitk.GetArrayFromImage(res.labels)
    voxel = float(np.prod(res.labels.GetSpacing()))
    src = sitk.GetArrayFromImage(ph.labels)
    for side in L.SIDES:
        values = res.sides[side]
        assert _rel(values["negative_volume_mm3"], ph.truth[side]["negative_volume_mm3"]) < 0.06
        assert (lab == L.NEGATIVE_VOLUME[side]).sum() * voxel == pytest.approx(
            values["negative_volume_mm3"])
        assert np.array_equal(lab == L.CONDYLE[side], src == L.CONDYLE[side])
        assert np.array_equal(lab == L.TEMPORAL_BONE[side], src == L.TEMPORAL_BONE[side])
        thickness = res.meshes[side]["condyle"].GetPointData().GetArray("JointSpaceThickness_mm")
        assert thickness is not None and thickness.GetNumberOfTuples() == values["condyle_vertices"]
        assert res.meshes[side]["negative_volume"].GetNumberOfPoints() > 0
    assert res.sides["left"]["joint_space_mean_mm"] == pytest.approx(1.5, abs=0.1)
    assert res.sides["right"]["joint_space_mean_mm"] == pytest.approx(3.5, abs=0.1)
    assert res.timings_s["total"] > 0


def _flip_x_keep_anatomy(image):
    """Reverse the array along x and the x direction column: same physical image."""
    arr = sitk.GetArrayFromImage(image)[:, :, ::-1]
    out = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    out.SetSpacing(image.GetSpacing())
    direction = np.asarray(image.GetDirection()).reshape(3, 3).copy()
    out.SetOrigin(image.TransformIndexToPhysicalPoint((image.GetSize()[0] - 1, 0, 0)))
    direction[:, 0] *= -1
    out.SetDirection(tuple(direction.ravel()))
    return out


def _mirror_anatomy(image):
    """Reverse the array along x keeping origin and direction: the anatomy is mirrored."""
    out = sitk.GetImageFromArray(np.ascontiguousarray(sitk.GetArrayFromImage(image)[:, :, ::-1]))
    out.CopyInformation(image)
    return out


def test_flipping_array_with_direction_keeps_sides(pair):
    ph, res = pair
    flipped = measure_negative_volume(_flip_x_keep_anatomy(ph.labels))
    assert flipped.warnings == []
    for side in L.SIDES:
        # Same voxels at the same physical positions: the same mesh once each cell's polygon
        # is fanned around its centre (flying edges' own diagonals, walked on the reversed
        # array, put them 0.9 % apart at the cap rim before).
        assert _rel(flipped.sides[side]["negative_volume_mm3"],
                    res.sides[side]["negative_volume_mm3"]) < 1e-6
        assert np.allclose(flipped.sides[side]["condyle_center_lps_mm"],
                           res.sides[side]["condyle_center_lps_mm"], atol=1e-6)


def test_mirroring_anatomy_swaps_sides(pair):
    _ph, res = pair
    mirrored = measure_negative_volume(_mirror_anatomy(_ph.labels))
    assert any("swapped" in w for w in mirrored.warnings)
    for side in L.SIDES:
        other = L.other_side(side)
        assert _rel(mirrored.sides[side]["negative_volume_mm3"],
                    res.sides[other]["negative_volume_mm3"]) < 1e-6  # exact mirror meshes
        assert _rel(mirrored.sides[side]["condyle_volume_mm3"],
                    res.sides[other]["condyle_volume_mm3"]) < 1e-9
        assert (mirrored.sides[side]["condyle_center_lps_mm"][0] > 0) == (side == L.LEFT)
    lab = sitk.GetArrayFromImage(mirrored.labels)
    left_mc = np.nonzero(lab == L.CONDYLE[L.LEFT])
    x = [mirrored.labels.TransformIndexToPhysicalPoint((int(i), 0, 0))[0] for i in left_mc[2][:50]]
    assert min(x) > 0  # relabelled to the patient's left


def test_no_temporal_bone_and_no_contact():
    ph = make_analytic_phantom(seed=4, left={"joint_space_mm": 12.0},
                               right={"joint_space_mm": 2.0})
    res = measure_negative_volume(ph.labels, max_distance=10.0)
    assert res.sides["left"] is None and any("no contact" in w for w in res.warnings)
    assert res.sides["right"] is not None
    arr = sitk.GetArrayFromImage(ph.labels)
    arr[arr == 4] = 0
    img = sitk.GetImageFromArray(arr)
    img.CopyInformation(ph.labels)
    res = measure_negative_volume(img)
    assert res.sides["right"] is None and any("no temporal bone" in w for w in res.warnings)


def test_touching_bones_give_zero_joint_space():
    ph = make_analytic_phantom(seed=1, sides=("left",), joint_space_mm=0.0,
                               cap_half_angle_deg=60.0, condyle_radius_mm=6.0)
    left = measure_negative_volume(ph.labels).sides["left"]
    open_gap = sphere_cap_negative_volume(6.0, 8.5, 60.0)
    # Measured 1.0 %: a one-voxel ring in the corner beside the cap's rim, nothing over the cap.
    assert left["negative_volume_mm3"] < 0.02 * open_gap
    assert left["joint_space_min_mm"] == 0.0
    assert left["joint_space_mean_mm"] < 0.15


def test_condyle_cut_by_field_of_view_warns():
    ph = make_analytic_phantom(seed=5, sides=("left",), condyle_radius_mm=6.0,
                               joint_space_mm=2.0, cap_half_angle_deg=50.0)
    centre = ph.truth["left"]["condyle_center_lps_mm"]
    k0 = int(round(ph.labels.TransformPhysicalPointToContinuousIndex(centre)[2]))
    size = list(ph.labels.GetSize())
    cut = sitk.RegionOfInterest(ph.labels, size[:2] + [size[2] - k0], [0, 0, k0])
    res = measure_negative_volume(cut)
    assert any("edge of the field of view" in w for w in res.warnings)
    assert _rel(res.sides["left"]["negative_volume_mm3"],
                ph.truth["left"]["negative_volume_mm3"]) < 0.06
    assert _rel(res.sides["left"]["condyle_volume_mm3"],
                ph.truth["left"]["condyle_volume_mm3"] / 2) < 0.1


def test_empty_label_map_and_bad_input():
    img = sitk.Image(20, 20, 20, sitk.sitkUInt8)
    res = measure_negative_volume(img)
    assert res.sides == {"left": None, "right": None}
    assert len(res.warnings) == 2
    bad = sitk.Image(5, 5, 5, sitk.sitkUInt8) + 9
    with pytest.raises(InputError):
        measure_negative_volume(bad)
    with pytest.raises(InputError):
        measure_negative_volume(img, mode="blender")
    with pytest.raises(InputError):
        measure_negative_volume(img, max_distance=0)


def test_anisotropic_thick_slices():
    ph = make_analytic_phantom(seed=0, spacing=(0.3, 0.3, 3.0), joint_space_mm=3.0,
                               cap_half_angle_deg=60.0)
    res = measure_negative_volume(ph.labels)
    for side in L.SIDES:
        # 3 mm slices against a 3 mm gap: measured within 2 % here, 13 % over seeds 0-2.
        assert _rel(res.sides[side]["negative_volume_mm3"],
                    ph.truth[side]["negative_volume_mm3"]) < 0.2


def test_paper_mode_fills_to_the_limit_inside_the_cube():
    r, gap, theta, limit, cube = 4.0, 2.0, 50.0, 10.0, 30.0
    ph = make_analytic_phantom(seed=6, sides=("left",), condyle_radius_mm=r,
                               joint_space_mm=gap, cap_half_angle_deg=theta)
    # The phantom's box ends 2 mm past the TB; pad it so the 10 mm rays stay in the image.
    padded = sitk.ConstantPad(ph.labels, [20, 20, 20], [20, 20, 20], 0)
    left = measure_negative_volume(padded, mode="paper", max_distance=limit,
                                   cube_mm=cube).sides["left"]
    # Inside the cone: the cap layer. Outside: the shell r..r+limit, cut by the cube's floor
    # (cube centred on the condyle top, z_c + r, so its floor is at z_c + r - cube / 2).
    floor = cube / 2 - r
    cos_t = np.cos(np.radians(theta))
    outside = integrate.quad(lambda p: 2 * np.pi * p * p * (cos_t + min(1.0, floor / p)),
                             r, r + limit, points=[floor])[0]
    truth = sphere_cap_negative_volume(r, r + gap, theta) + outside
    assert _rel(left["negative_volume_mm3"], truth) < 0.04


def test_nv_has_no_holes_where_normals_converge_or_ray_lengths_jump():
    """A flat-topped condyle (cylinder r 8 mm) whose top has a concave spherical dimple (normals
    converge and cross: the inflated surface folds) under a temporal-bone plate with a 3 mm step
    (neighbouring rays of 2.5 and 5.5 mm). Swept region: every point above the top, below the
    plate. The NV mask must hold every free voxel of that column (1 mm away from the cylinder's
    rim and from the step), and nothing more than 1.5 voxels above the plate's underside."""
    spacing = 0.4
    n = 64
    image = sitk.Image(n, n, n, sitk.sitkUInt8)
    image.SetSpacing((spacing,) * 3)
    image.SetOrigin((-(n - 1) * spacing / 2.0,) * 3)
    z, y, x = (np.indices((n, n, n)) - (n - 1) / 2.0) * spacing   # LPS mm, identity direction
    radial = np.hypot(x, y)
    dimple = np.sqrt(x ** 2 + y ** 2 + (z - 2.5) ** 2) < 4.0        # 1.5 mm deep at the centre
    condyle = (radial <= 8.0) & (z <= 0.0) & (z >= -8.0) & ~dimple
    underside = np.where(x < 0.0, 2.5, 5.5)                          # the plate's step at x = 0
    plate = (z >= underside) & (z <= 8.5) & (radial <= 12.0)
    labels = np.zeros((n, n, n), np.uint8)
    labels[condyle] = L.CONDYLE[L.LEFT]
    labels[plate] = L.TEMPORAL_BONE[L.LEFT]
    img = sitk.GetImageFromArray(labels)
    img.CopyInformation(image)
    res = measure_negative_volume(img)
    nv = sitk.GetArrayFromImage(res.labels) == L.NEGATIVE_VOLUME[L.LEFT]
    column = (labels == 0) & (radial <= 7.0) & (z > 0.0 - 2.0) & (z < underside) \
        & (np.abs(x) >= 1.0)
    above_top = column & ~(condyle | dimple & (z <= 0.0))
    assert above_top.sum() > 4000
    missing = above_top & ~nv
    assert missing.sum() == 0, "%d free voxels of the swept column are not NV" % missing.sum()
    in_dimple = above_top & dimple
    assert in_dimple.sum() > 200 and nv[in_dimple].all()
    assert not (nv & (z > underside + 1.5 * spacing)).any()


def test_swapped_side_labels_are_measured_and_written_on_the_patients_sides():
    """Labels 1/3 and 2/4 exchanged (the patient's left condyle labelled right): a warning, each
    joint measured as the side it lies on, the written label map that of the correct labels,
    and the input image unchanged."""
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    ph = make_phantom("analytic", seed=3, variant="sphere", condyle_radius_mm=6.5)
    correct = measure_negative_volume(ph.labels)
    exchange = np.array([0, 2, 1, 4, 3, 6, 5], np.uint8)
    swapped = sitk.GetImageFromArray(exchange[sitk.GetArrayFromImage(ph.labels)])
    swapped.CopyInformation(ph.labels)
    before = sitk.GetArrayFromImage(swapped)
    got = measure_negative_volume(swapped)
    assert any("were swapped" in w for w in got.warnings), got.warnings
    assert not any("were swapped" in w for w in correct.warnings)
    for side in ("left", "right"):
        for key in ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_mean_mm"):
            assert got.sides[side][key] == correct.sides[side][key] > 0, (side, key)
        assert got.sides[side]["condyle_center_lps_mm"] == correct.sides[side]["condyle_center_lps_mm"]
    assert np.array_equal(sitk.GetArrayFromImage(got.labels), sitk.GetArrayFromImage(correct.labels))
    assert np.array_equal(sitk.GetArrayFromImage(swapped), before)
