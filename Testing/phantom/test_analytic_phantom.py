"""The analytic phantom and its truth formulas, checked against independent closed forms."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import special

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.phantom import make_phantom
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom
from NegativeVolumeSegmentationLib.phantom.analytic_truth import (ellipsoid_cap_integrals, ellipsoid_foot_points, ellipsoid_negative_volume, rotation_matrix, sphere_cap_negative_volume)


def test_sphere_cap_formula_limits():
    r, big_r = 5.0, 7.0
    shell = 4.0 / 3.0 * np.pi * (big_r ** 3 - r ** 3)
    assert sphere_cap_negative_volume(r, big_r, 180.0) == pytest.approx(shell, rel=1e-12)
    assert sphere_cap_negative_volume(r, big_r, 90.0) == pytest.approx(shell / 2, rel=1e-12)
    # Cone of 60 degrees: solid angle 2 pi (1 - cos 60) = pi, a quarter of the sphere.
    assert sphere_cap_negative_volume(r, big_r, 60.0) == pytest.approx(shell / 4, rel=1e-12)


@pytest.mark.parametrize("radius,delta,theta", [(5.0, 2.0, 45.0), (4.0, 0.5, 80.0),
                                                (8.0, 5.0, 30.0), (6.0, 3.0, 180.0)])
def test_steiner_integral_of_sphere_shaped_ellipsoid_is_the_closed_form(radius, delta, theta):
    steiner = ellipsoid_negative_volume((radius,) * 3, delta, theta)
    closed = sphere_cap_negative_volume(radius, radius + delta, theta)
    assert steiner == pytest.approx(closed, rel=1e-9)


def _legendre_area(a, b, c):
    """Surface area of an ellipsoid a >= b >= c (Legendre, incomplete elliptic integrals)."""
    phi = np.arccos(c / a)
    k2 = (a * a * (b * b - c * c)) / (b * b * (a * a - c * c))
    e_inc = special.ellipeinc(phi, k2)
    f_inc = special.ellipkinc(phi, k2)
    return 2 * np.pi * c * c + 2 * np.pi * a * b / np.sin(phi) * (
        e_inc * np.sin(phi) ** 2 + f_inc * np.cos(phi) ** 2)


@pytest.mark.parametrize("axes", [(10.0, 4.5, 5.0), (9.0, 4.0, 5.5), (6.0, 5.0, 3.0)])
def test_ellipsoid_area_and_gauss_bonnet_over_whole_surface(axes):
    area, _int_h, int_k = ellipsoid_cap_integrals(axes, 180.0)
    sorted_axes = sorted(axes, reverse=True)
    assert area == pytest.approx(_legendre_area(*sorted_axes), rel=1e-6)
    assert int_k == pytest.approx(4 * np.pi, rel=1e-9)


@pytest.mark.parametrize("theta", [35.0, 70.0])
def test_steiner_volume_matches_direct_parametric_integration(theta):
    # Independent route: x(u, v) = (a sin u cos v, b sin u sin v, c cos u), dA = |x_u x x_v|,
    # curvatures from the first and second fundamental forms, cap = normals within theta of +z.
    a, b, c = 10.0, 4.5, 5.0
    delta = 2.0
    n = 500
    u = (np.arange(n) + 0.5) * np.pi / n
    v = (np.arange(2 * n) + 0.5) * np.pi / n
    uu, vv = np.meshgrid(u, v, indexing="ij")
    su, cu, sv, cv = np.sin(uu), np.cos(uu), np.sin(vv), np.cos(vv)
    xu = np.stack([a * cu * cv, b * cu * sv, -c * su], -1)
    xv = np.stack([-a * su * sv, b * su * cv, 0 * su], -1)
    xuu = np.stack([-a * su * cv, -b * su * sv, -c * cu], -1)
    xuv = np.stack([-a * cu * sv, b * cu * cv, 0 * su], -1)
    xvv = np.stack([-a * su * cv, -b * su * sv, 0 * su], -1)
    cross = np.cross(xu, xv)
    jac = np.linalg.norm(cross, axis=-1)
    nrm = cross / jac[..., None]
    e_, f_, g_ = (xu * xu).sum(-1), (xu * xv).sum(-1), (xv * xv).sum(-1)
    l_, m_, n_ = (xuu * nrm).sum(-1), (xuv * nrm).sum(-1), (xvv * nrm).sum(-1)
    den = e_ * g_ - f_ ** 2
    gauss = (l_ * n_ - m_ ** 2) / den
    mean = np.abs((e_ * n_ - 2 * f_ * m_ + g_ * l_) / (2 * den))
    cap = nrm[..., 2] >= np.cos(np.radians(theta))
    d_area = jac * (np.pi / n) ** 2
    direct = np.sum((delta + delta ** 2 * mean + delta ** 3 * gauss / 3) * d_area * cap)
    assert ellipsoid_negative_volume((a, b, c), delta, theta) == pytest.approx(direct, rel=2e-3)


def test_foot_points_are_nearest_points_on_the_ellipsoid():
    rng = np.random.RandomState(0)
    axes = np.array([10.0, 4.5, 5.0])
    pts = rng.normal(size=(200, 3)) * 8.0
    pts = pts[np.sum((pts / axes) ** 2, axis=1) > 1.05]
    foot, normal, dist = ellipsoid_foot_points(pts, axes)
    assert np.allclose(np.sum((foot / axes) ** 2, axis=1), 1.0, atol=1e-9)
    # Brute force: dense sample of the surface.
    u, v = np.meshgrid(np.linspace(0, np.pi, 400), np.linspace(0, 2 * np.pi, 800), indexing="ij")
    surf = np.stack([np.sin(u) * np.cos(v), np.sin(u) * np.sin(v), np.cos(u)], -1).reshape(-1, 3)
    surf = surf * axes
    from scipy.spatial import cKDTree
    brute, _ = cKDTree(surf).query(pts)
    assert np.all(dist <= brute + 1e-9)
    assert np.max(brute - dist) < 0.05
    # The offset is along the outward normal.
    assert np.allclose(pts - foot, dist[:, None] * normal, atol=1e-8)


def test_rotation_matrix_is_a_rotation_about_its_axis():
    rot = rotation_matrix([1.0, 1.0, 0.0], 30.0)
    assert np.allclose(rot @ rot.T, np.eye(3))
    assert np.linalg.det(rot) == pytest.approx(1.0)
    assert np.allclose(rot @ (np.array([1.0, 1.0, 0.0]) / np.sqrt(2)),
                       np.array([1.0, 1.0, 0.0]) / np.sqrt(2))
    assert np.degrees(np.arccos(np.clip((np.trace(rot) - 1) / 2, -1, 1))) == pytest.approx(30.0)


def _physical_centroid(image, mask):
    k, j, i = np.nonzero(mask)
    return np.array([image.TransformContinuousIndexToPhysicalPoint((float(a), float(b), float(c)))
                     for a, b, c in zip(i, j, k)]).mean(axis=0)


@pytest.mark.parametrize("variant", ["sphere", "ellipsoid"])
def test_phantom_labels_agree_with_truth_and_sides_are_physical(variant):
    ph = make_phantom("analytic", seed=4, variant=variant)
    lab = sitk.GetArrayFromImage(ph.labels)
    ct = sitk.GetArrayFromImage(ph.ct)
    voxel = float(np.prod(ph.labels.GetSpacing()))
    assert ph.ct.GetPixelID() == sitk.sitkInt16
    assert set(np.unique(lab)) == {0, 1, 2, 3, 4, 5, 6}
    for side in L.SIDES:
        truth = ph.truth[side]
        mc = lab == L.CONDYLE[side]
        assert mc.sum() * voxel == pytest.approx(truth["condyle_volume_mm3"], rel=0.02)
        nv = (lab == L.NEGATIVE_VOLUME[side]).sum() * voxel
        assert nv == pytest.approx(truth["negative_volume_mm3"], rel=0.06)
        centre = _physical_centroid(ph.labels, mc)
        assert np.allclose(centre, truth["condyle_center_lps_mm"], atol=0.05)
        assert (centre[0] > 0) == (side == L.LEFT)  # patient's left is +x in LPS
        tb_centre = _physical_centroid(ph.labels, lab == L.TEMPORAL_BONE[side])
        assert tb_centre[2] > centre[2] + 2.0  # the fossa cap is superior to the condyle
    assert np.median(ct[np.isin(lab, [1, 2])]) > 1000
    assert abs(np.median(ct[lab == 0]) - 40) < 30


def test_rotation_turns_the_cap_and_keeps_the_volumes():
    kw = dict(sides=("left",), condyle_radius_mm=6.0, joint_space_mm=2.0,
              cap_half_angle_deg=60.0)
    plain = make_analytic_phantom(seed=1, **kw)
    turned = make_analytic_phantom(seed=1, rotation_axis=[1.0, 0.0, 0.0], rotation_deg=90.0, **kw)
    assert turned.truth["left"] == plain.truth["left"]
    lab = sitk.GetArrayFromImage(turned.labels)
    c = np.asarray(turned.truth["left"]["condyle_center_lps_mm"])
    direction = _physical_centroid(turned.labels, lab == 3) - c
    direction /= np.linalg.norm(direction)
    # +z rotated by 90 degrees about +x points to -y (anterior in LPS).
    assert np.allclose(direction, [0.0, -1.0, 0.0], atol=0.05)
    voxel = 0.125
    assert (lab == 5).sum() * voxel == pytest.approx(plain.truth["left"]["negative_volume_mm3"],
                                                     rel=0.06)


def test_seed_determinism_overrides_and_missing_side():
    a = make_analytic_phantom(seed=7)
    b = make_analytic_phantom(seed=7)
    assert a.truth == b.truth
    assert np.array_equal(sitk.GetArrayFromImage(a.ct), sitk.GetArrayFromImage(b.ct))
    c = make_analytic_phantom(seed=7, right={"condyle_radius_mm": 5.0}, sides=("right",))
    assert c.truth["left"] is None
    assert c.truth["right"]["condyle_volume_mm3"] == pytest.approx(4 / 3 * np.pi * 125)
    assert c.truth["parameters"]["right"]["condyle_radius_mm"] == 5.0
    with pytest.raises(ValueError):
        make_analytic_phantom(variant="cube")
