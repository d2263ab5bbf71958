"""A hole in the segmented fossa roof is bridged, against the analytic truth of the intact roof.

A sphere (radius r) under a concentric spherical cap (inner radius R, half-angle theta): every
condyle normal is radial, NV = (2 pi (1 - cos theta) / 3) (R^3 - r^3) exactly. Cutting a vertical
cylinder of radius rho out of the cap's top (what 2 mm slices do to a 1 mm fossa roof) lets the
rays within asin(rho / R) of the top through; bridged, the NV is the intact cap's again. Air in
the hole still stops them (air is never joint space).
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.engine import roof_gaps
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom
from NegativeVolumeSegmentationLib.phantom.analytic_truth import sphere_cap_negative_volume

R_MM, GAP_MM, THETA, HOLE_MM, ROOF_MM = 6.0, 2.0, 60.0, 3.0, 1.5


@pytest.fixture(scope="module")
def joint():
    ph = make_analytic_phantom(seed=3, sides=("left",), spacing=(0.4,) * 3, condyle_radius_mm=R_MM,
                               joint_space_mm=GAP_MM, cap_half_angle_deg=THETA,
                               tb_thickness_mm=ROOF_MM)
    c = np.asarray(ph.truth["left"]["condyle_center_lps_mm"], float)
    labels = sitk.GetArrayFromImage(ph.labels)
    z, y, x = np.indices(labels.shape)
    lps = np.stack([x, y, z], -1) * np.asarray(ph.labels.GetSpacing()) + ph.labels.GetOrigin()
    column = ((lps[..., 0] - c[0]) ** 2 + (lps[..., 1] - c[1]) ** 2 < HOLE_MM ** 2) & \
        (lps[..., 2] > c[2])
    holed = labels.copy()
    holed[column & (labels == 3)] = 0
    assert (labels[column] == 3).sum() > 100  # the cap had bone there
    image = sitk.GetImageFromArray(holed)
    image.CopyInformation(ph.labels)
    return ph, image, column


def test_the_intact_cap_has_no_gap(joint):
    ph, _, _ = joint
    side = measure_negative_volume(ph.labels).sides["left"]
    assert side["roof_gap_mm2"] == 0.0  # the misses below the cap's rim are not a gap
    assert side["negative_volume_mm3"] == pytest.approx(
        sphere_cap_negative_volume(R_MM, R_MM + GAP_MM, THETA), rel=0.06)


def test_a_hole_in_the_roof_is_bridged(joint):
    _, holed, _ = joint
    truth = sphere_cap_negative_volume(R_MM, R_MM + GAP_MM, THETA)
    side = measure_negative_volume(holed).sides["left"]
    alpha = np.arcsin(HOLE_MM / (R_MM + GAP_MM))  # rays within alpha of the top pass the hole
    lost = (1.0 - np.cos(alpha)) / (1.0 - np.cos(np.radians(THETA)))
    assert lost > 0.14  # unbridged, the NV would read ~15 % low
    assert side["negative_volume_mm3"] == pytest.approx(truth, rel=0.06)
    polar_cap = 2.0 * np.pi * R_MM ** 2 * (1.0 - np.cos(alpha))  # the condyle under the hole
    assert side["roof_gap_mm2"] == pytest.approx(polar_cap, rel=0.35)
    assert side["joint_space_mean_mm"] == pytest.approx(GAP_MM, abs=0.25)


def test_air_in_the_hole_still_stops_the_rays(joint):
    ph, holed, column = joint
    ct = sitk.GetArrayFromImage(ph.ct).astype(np.float32)
    labels = sitk.GetArrayFromImage(holed)
    ct[column & ((labels == 0) | (labels >= 5))] = -1000.0  # the hole and the joint below it
    ct_image = sitk.GetImageFromArray(ct)
    ct_image.CopyInformation(ph.ct)
    res = measure_negative_volume(holed, ct=ct_image)
    nv = sitk.GetArrayFromImage(res.labels) == 5
    assert nv.any() and not np.any(nv & (ct < -400))
    from vtk.util.numpy_support import vtk_to_numpy
    from NegativeVolumeSegmentationLib.engine.nv_mask import THICKNESS_ARRAY
    condyle = res.meshes["left"]["condyle"]
    h = vtk_to_numpy(condyle.GetPointData().GetArray(THICKNESS_ARRAY))
    xyz = vtk_to_numpy(condyle.GetPoints().GetData())
    c = np.asarray(ph.truth["left"]["condyle_center_lps_mm"], float)
    under = (np.hypot(xyz[:, 0] - c[0], xyz[:, 1] - c[1]) < HOLE_MM - 0.5) & (xyz[:, 2] > c[2])
    assert under.sum() > 20 and np.all(h[under] == 0)  # bridged rays stopped at the air
    bridged = measure_negative_volume(holed).sides["left"]["negative_volume_mm3"]
    assert res.sides["left"]["negative_volume_mm3"] < 0.95 * bridged


def test_enclosed_misses_are_filled_harmonically():
    # a chain 0-1-...-7: rays 2, 3 missed between hits 1 (h 2 mm) and 4 (h 5 mm); 5-7 missed too,
    # the larger set (the part facing away), which stays a miss
    edges = np.array([[i, i + 1] for i in range(7)])
    hit = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)
    h = np.array([1.0, 2.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0])
    gaps = roof_gaps.enclosed_misses(hit, edges)
    assert gaps.tolist() == [False, False, True, True, False, False, False, False]
    filled, now = roof_gaps.fill(h, hit, gaps, edges)
    assert filled[2:4] == pytest.approx([3.0, 4.0])  # linear along a chain
    assert now[2] and now[3] and not now[5:].any()
    assert h[2] == 0.0 and not hit[2]  # inputs untouched


def test_a_gap_beside_the_part_facing_away_is_not_pulled_to_zero():
    # a chain: ray 0 met the bone (h 2 mm), ray 1 missed (a hole), ray 2 met the bone within the
    # rim of the hole (bridged with it), rays 3-7 missed: the part facing away (no length). The
    # bridge takes its lengths from the bone around it (2 mm), not from the misses' 0; before,
    # rays 1, 2 read 1.33 / 0.67 mm, shorter than any ray that met the bone (the real head
    # cropped 7 mm off one side: a minimum joint space of 0.09 mm against 1.32 mm)
    edges = np.array([[i, i + 1] for i in range(7)])
    hit = np.array([1, 0, 1, 0, 0, 0, 0, 0], bool)
    h = np.array([2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    gaps = roof_gaps.enclosed_misses(hit, edges)
    assert gaps.tolist() == [False, True, False, False, False, False, False, False]
    gaps[2] = True   # the rim (with_rim)
    filled, now = roof_gaps.fill(h, hit, gaps, edges)
    assert filled[1:3] == pytest.approx([2.0, 2.0])
    assert now[1] and now[2] and not now[3:].any() and filled[3:].tolist() == [0.0] * 5


def test_a_large_enclosed_miss_region_faces_away():
    # a chain of 1 mm2 vertices: hits at 0 and 61, 60 misses between them (60 mm2, more than a
    # slice-cut hole leaves), and 100 more misses beyond (the largest region): nothing bridged
    edges = np.array([[i, i + 1] for i in range(161)])
    hit = np.zeros(162, bool)
    hit[[0, 61]] = True
    areas = np.ones(162)
    assert not roof_gaps.enclosed_misses(hit, edges, areas).any()
    assert roof_gaps.enclosed_misses(hit, edges, areas, max_area_mm2=100.0)[1:61].all()


def test_the_rim_takes_only_rays_that_met_the_bone():
    points = np.array([[0.0, 0, 0], [0.3, 0, 0], [0.6, 0, 0], [0.2, 0.2, 0]])
    gaps = np.array([True, False, False, False])
    hit = np.array([False, True, True, False])  # vertex 3: a miss of the region facing away
    grown = roof_gaps.with_rim(gaps, points, hit, rim_mm=0.5)
    assert grown.tolist() == [True, True, False, False]


def test_a_gap_with_nothing_around_it_stays_a_miss():
    edges = np.array([[0, 1], [1, 2]])  # vertex 3 has no edge
    hit = np.array([True, False, True, False])
    h = np.array([2.0, 0.0, 4.0, 0.0])
    gaps = np.array([False, True, False, True])
    filled, now = roof_gaps.fill(h, hit, gaps, edges)
    assert filled[1] == pytest.approx(3.0) and now[1]
    assert filled[3] == 0.0 and not now[3]
