"""Ray inflation lengths against analytic geometry (flat gap, concentric sphere cap)."""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.engine import inflate, surfaces
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom

SPACING = 0.5


def _slab_pair(gap_voxels):
    """A block (MC) under a slab (TB); surfaces (at half-voxel) are (gap_voxels - 1) * 0.5 mm apart."""
    arr = np.zeros((40, 30, 30), np.uint8)
    arr[5:15, 5:25, 5:25] = 1
    arr[14 + gap_voxels:20 + gap_voxels, 2:28, 2:28] = 2
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((SPACING,) * 3)
    img.SetOrigin((3.0, -7.0, 11.0))
    return img


@pytest.fixture(scope="module")
def sphere_case():
    ph = make_analytic_phantom(seed=0, sides=("left",), condyle_radius_mm=6.0,
                               joint_space_mm=2.0, cap_half_angle_deg=60.0)
    mc = surfaces.mask_surface(ph.labels == 1)
    tb = surfaces.mask_surface(ph.labels == 3)
    centre = np.asarray(ph.truth["left"]["condyle_center_lps_mm"])
    return mc, tb, centre


def test_flat_gap_is_measured_exactly():
    img = _slab_pair(gap_voxels=7)  # surfaces 3.0 mm apart
    mc = surfaces.mask_surface(img == 1)
    tb = surfaces.mask_surface(img == 2)
    h, hit = inflate.inflation_lengths(mc, tb)
    pts = surfaces.points(mc)
    nrm = surfaces.point_normals(mc)
    top = (nrm[:, 2] > 0.999) & (np.abs(pts[:, 0] - pts[:, 0].mean()) < 3) & (
        np.abs(pts[:, 1] - pts[:, 1].mean()) < 3)
    assert top.sum() > 20
    assert np.all(hit[top])
    # Windowed-sinc smoothing (as in Slicer) rounds the blocks' edges and bulges their flat faces
    # by a few hundredths of a mm: within a quarter voxel everywhere, closer at the centre.
    assert np.allclose(h[top], 3.0, atol=0.125)
    assert abs(np.median(h[top]) - 3.0) < 0.06
    sides = np.abs(nrm[:, 2]) < 0.1  # side faces look past the slab: no hit in confined mode
    assert not np.any(hit[sides])
    assert np.all(h[sides] == 0)


def test_sphere_cap_lengths_inside_and_outside_the_cone(sphere_case):
    mc, tb, centre = sphere_case
    h, hit = inflate.inflation_lengths(mc, tb)
    pts = surfaces.points(mc)
    polar = np.degrees(np.arccos((pts - centre)[:, 2] / np.linalg.norm(pts - centre, axis=1)))
    inner = polar < 55
    assert np.all(hit[inner])
    assert np.abs(h[inner] - 2.0).max() < 0.2
    assert np.median(np.abs(h[inner] - 2.0)) < 0.06
    outside = polar > 66
    assert not np.any(hit[outside]) and np.all(h[outside] == 0)


def test_paper_mode_and_max_distance(sphere_case):
    mc, tb, _centre = sphere_case
    h_conf, hit = inflate.inflation_lengths(mc, tb, mode="confined")
    h_paper, hit_p = inflate.inflation_lengths(mc, tb, mode="paper", max_distance=7.5)
    assert np.array_equal(hit, hit_p)
    assert np.allclose(h_paper[hit], h_conf[hit])
    assert np.all(h_paper[~hit] == 7.5)
    # A ray shorter than the gap meets nothing.
    h_short, hit_short = inflate.inflation_lengths(mc, tb, max_distance=1.5)
    assert not hit_short.any() and np.all(h_short == 0)
    with pytest.raises(ValueError):
        inflate.inflation_lengths(mc, tb, mode="blender")


@pytest.mark.parametrize("kind", ["cell", "obb", "bsp"])
def test_locators_agree(sphere_case, kind):
    mc, tb, _centre = sphere_case
    h_ref, hit_ref = inflate.inflation_lengths(mc, tb, locator="static")
    h, hit = inflate.inflation_lengths(mc, tb, locator=kind)
    assert np.array_equal(hit, hit_ref)
    assert np.allclose(h, h_ref, atol=1e-4)


def test_overlapping_bones_give_zero_length():
    arr = np.zeros((40, 30, 30), np.uint8)
    arr[5:15, 5:25, 5:25] = 1
    tb = arr.copy() * 0
    tb[12:20, 2:28, 2:28] = 1  # overlaps the block's top three voxel layers
    img_mc = sitk.GetImageFromArray(arr)
    img_tb = sitk.GetImageFromArray(tb)
    mc_poly = surfaces.mask_surface(img_mc)
    tb_poly = surfaces.mask_surface(img_tb)
    h, hit = inflate.inflation_lengths(mc_poly, tb_poly)
    nrm = surfaces.point_normals(mc_poly)
    pts = surfaces.points(mc_poly)
    top = (nrm[:, 2] > 0.999) & (np.abs(pts[:, 0] - 14.5) < 4) & (np.abs(pts[:, 1] - 14.5) < 4)
    assert top.sum() > 10
    assert np.all(hit[top]) and np.all(h[top] == 0)


def test_empty_space_bound_never_exceeds_the_distance_to_the_triangles(sphere_case):
    """The rays jump through empty space by a lower bound of the distance to the TB mesh's
    triangle centroids, read from a grid: never more than the true distance (else a jump could
    pass a hit), and inside the centroids' box at most two cell diagonals less."""
    _mc, tb, _centre = sphere_case
    caster = inflate.TriangleRayCaster(surfaces.points(tb), surfaces.triangles(tb))
    centroids = caster.tree.data
    lo, hi = centroids.min(axis=0), centroids.max(axis=0)
    rng = np.random.default_rng(2)
    inside = rng.uniform(lo, hi, (2000, 3))
    points = np.vstack([inside, rng.uniform(lo - 8.0, hi + 8.0, (2000, 3))])
    true = caster.tree.query(points)[0]
    bound = caster.free_distance(points)
    assert np.all(bound <= true + 1e-9) and np.all(bound >= 0.0)
    slack = 2.0 * np.sqrt(3.0) * inflate.FREE_SPACE_CELL_MM
    assert np.all(bound[:2000] >= true[:2000] - slack - 1e-9)
    assert np.max(true) > 8.0 and np.max(bound) > 6.0   # far points do jump far
