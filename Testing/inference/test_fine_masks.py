"""Bone masks on the engine's fine grid from the network's crop probabilities
(inference/fine_masks.py), and the joint measured on that grid (engine/measurement_grid.py),
against analytic truth.

The "network" here is exact: probabilities of an analytic sphere condyle under a concentric
fossa cap (phantom/analytic.py's geometry), sharp logistic steps (0.15 mm) whose 0.5 level is the
analytic surface, on a 0.5 mm crop grid of 32 mm turned as a right joint's crop is (x mirrored). The label
map is the phantom's own, on a 0.6 x 0.6 x 2 mm CT grid (a clinical head CT's). Truth: the sphere
(radius r), the cap's gap (R - r) and the phantom's other geometry.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.engine import measurement_grid, shape_interpolation as SI
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume
from NegativeVolumeSegmentationLib.inference import fine_masks as FM
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom
from NegativeVolumeSegmentationLib.phantom.analytic_truth import sphere_cap_negative_volume

CLINICAL_GRID = (0.6, 0.6, 2.0)
STEP_MM = 0.15          # width of the probabilities' logistic step
TB_THICKNESS = 3.0
SIDE = L.RIGHT


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x / STEP_MM, -60.0, 60.0)))


def _probabilities(points, centre, r, gap, theta_deg):
    """(P(condyle), P(temporal bone)) at LPS ``points`` of the analytic joint."""
    q = points - centre
    rho = np.linalg.norm(q, axis=1)
    polar = np.arccos(np.clip(q[:, 2] / np.maximum(rho, 1e-9), -1.0, 1.0))
    big_r = r + gap
    p_mc = _logistic(r - rho)
    p_tb = (_logistic(rho - big_r) * _logistic(big_r + TB_THICKNESS - rho)
            * _logistic((np.radians(theta_deg) - polar) * big_r))
    return p_mc, p_tb


def _crop(centre, r, gap, theta_deg, half_mm=16.0, step=0.5, shift=(0.0, 0.0, 0.0)):
    """:class:`FM.CropProbabilities` on a right joint's crop grid (x mirrored) around
    ``centre + shift``."""
    n = int(round(2 * half_mm / step))
    direction = np.diag([-1.0, 1.0, 1.0])
    corner = np.asarray(centre) + np.asarray(shift) + direction @ np.full(3, -half_mm + step / 2)
    reference = sitk.Image([n, n, n], sitk.sitkUInt8)
    reference.SetSpacing([step] * 3)
    reference.SetDirection(direction.ravel().tolist())
    reference.SetOrigin(corner.tolist())
    kji = np.indices((n, n, n)).reshape(3, -1).T[:, ::-1].astype(float)
    p_mc, p_tb = _probabilities(kji * step @ direction.T + corner, centre, r, gap, theta_deg)
    return FM.CropProbabilities(reference, p_mc.reshape(n, n, n).astype(np.float32),
                                p_tb.reshape(n, n, n).astype(np.float32))


def _joint(r, gap, theta_deg, seed=3):
    phantom = make_analytic_phantom(seed=seed, sides=(SIDE,), spacing=CLINICAL_GRID,
                                    condyle_radius_mm=r, joint_space_mm=gap,
                                    cap_half_angle_deg=theta_deg)
    centre = np.asarray(phantom.truth["parameters"][SIDE]["center_lps_mm"], float)
    labels = sitk.GetArrayFromImage(phantom.labels)
    return phantom, centre, labels == L.CONDYLE[SIDE], labels == L.TEMPORAL_BONE[SIDE]


def _centres(image, mask):
    kji = np.nonzero(mask)
    idx = np.stack([kji[2], kji[1], kji[0]], axis=1).astype(float)
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    return (idx * image.GetSpacing()) @ direction.T + image.GetOrigin()


def test_needs_fine_grid_only_coarser_than_the_fine_step():
    for spacing, expected in (((0.3, 0.3, 0.3), False), ((0.25, 0.25, 0.3), False),
                              ((0.5, 0.5, 0.5), True), ((0.3, 0.3, 0.31), True)):
        image = sitk.Image([4, 4, 4], sitk.sitkUInt8)
        image.SetSpacing(spacing)
        assert measurement_grid.needs_fine_grid(image) == expected, spacing


def test_condyle_from_probabilities_is_the_sphere_not_the_slices():
    r, gap, theta = 7.0, 2.5, 60.0
    phantom, centre, mc, tb = _joint(r, gap, theta)
    crop = _crop(centre, r, gap, theta)
    reference, fine_mc, fine_tb = FM.masks_from_probabilities(crop, phantom.labels, mc, tb)
    step = SI.FINE_STEP_MM
    assert reference.GetSpacing() == pytest.approx((step,) * 3)
    sphere = 4.0 / 3.0 * np.pi * r ** 3
    assert fine_mc.sum() * step ** 3 == pytest.approx(sphere, rel=0.01)
    # every fine condyle voxel within a fine voxel of the sphere, every one inside it kept
    rho = np.linalg.norm(_centres(reference, fine_mc) - centre, axis=1)
    assert rho.max() <= r + step
    rho_all = np.linalg.norm(_centres(reference, np.ones(fine_mc.shape, bool)) - centre, axis=1)
    assert fine_mc.ravel()[rho_all <= r - step].all()
    # the temporal bone's inner surface (the fossa) lies at R = r + gap
    rho_tb = np.linalg.norm(_centres(reference, fine_tb) - centre, axis=1)
    assert rho_tb.min() == pytest.approx(r + gap, abs=step)


@pytest.mark.parametrize("r,gap,theta", [(7.0, 2.5, 60.0), (8.0, 3.0, 70.0), (6.0, 1.5, 45.0)])
def test_joint_measured_on_the_fine_grid_from_probabilities(r, gap, theta):
    """On 2 mm slices, with the probabilities, the engine measures on its 0.3 mm grid: NV within
    4 % of the exact cap volume, condyle within 1 % of the ball (its part above the plane 15 mm
    under its apex: r 8 mm loses a 1 mm cap, 24.1 mm3), the thickness map's mean and minimum
    the analytic gap within 0.1 / 0.2 mm, the one superior ray within 0.25 mm; the label
    map returned lies on that grid and its NV voxels hold the reported volume. Measured: NV
    +1.3 / +0.4 / +1.2 %, condyle -0.2 / -0.2 / -0.3 %, mean 2.53 / 3.02 / 1.55 mm, minimum
    2.40 / 2.93 / 1.44, superior 2.71 / 3.00 / 1.49. From the labels alone (shape-based
    interpolation, counted on the CT grid): NV +15.4 / -1.3 / -7.6 %, minimum 1.83 / 2.23 /
    1.08 mm."""
    phantom, centre, _, _ = _joint(r, gap, theta)
    crop = _crop(centre, r, gap, theta)

    def source(mc_value, roi, mc, tb, reference):
        assert mc_value == L.CONDYLE[SIDE]
        return FM.masks_from_probabilities(crop, roi, mc, tb, reference)[1:]

    result = measure_negative_volume(phantom.labels, fine_masks=source)
    side = result.sides[SIDE]
    nv = side["negative_volume_mm3"]
    assert nv == pytest.approx(sphere_cap_negative_volume(r, r + gap, theta), rel=0.04)
    below = max(0.0, 2.0 * r - 15.0)    # the MC ends 15 mm under the apex: a ball over 15 mm
    ball = 4.0 / 3.0 * np.pi * r ** 3 - np.pi * below ** 2 * (3.0 * r - below) / 3.0   # tall
    assert side["condyle_volume_mm3"] == pytest.approx(ball, rel=0.01)                # is cut
    assert side["joint_space_mean_mm"] == pytest.approx(gap, abs=0.1)
    assert gap - 0.2 <= side["joint_space_min_mm"] <= gap + 0.05
    assert side["joint_space_superior_mm"] == pytest.approx(gap, abs=0.25)
    labels = result.labels
    assert labels.GetSpacing() == pytest.approx((SI.FINE_STEP_MM,) * 3)
    voxel = SI.FINE_STEP_MM ** 3
    array = sitk.GetArrayViewFromImage(labels)
    assert np.count_nonzero(array == L.NEGATIVE_VOLUME[SIDE]) * voxel == pytest.approx(nv)
    assert np.count_nonzero(array == L.CONDYLE[SIDE]) * voxel == pytest.approx(
        side["condyle_volume_mm3"])


def test_labels_cut_by_post_processing_stay_cut():
    """The post-processing's cuts (here the condyle below a plane 2 mm under its centre) hold on
    the fine grid, up to one CT voxel and a half (the nearest CT voxel of a fine one must be
    labelled or next to a labelled one)."""
    r, gap, theta = 7.0, 2.5, 60.0
    phantom, centre, mc, tb = _joint(r, gap, theta)
    z = _centres(phantom.labels, np.ones(mc.shape, bool))[:, 2].reshape(mc.shape)
    cut = centre[2] - 2.0
    mc_cut = mc & (z >= cut)
    lowest = z[mc_cut].min()
    reference, fine_mc, _ = FM.masks_from_probabilities(_crop(centre, r, gap, theta),
                                                       phantom.labels, mc_cut, tb)
    low = _centres(reference, fine_mc)[:, 2].min()
    assert lowest - 1.5 * CLINICAL_GRID[2] <= low <= cut
    assert low < lowest - 0.5 * CLINICAL_GRID[2]  # the probabilities reach below the samples


def _nearest(image, mask, reference):
    source = sitk.GetImageFromArray(mask.astype(np.uint8))
    source.CopyInformation(image)
    return sitk.GetArrayFromImage(sitk.Resample(source, reference, sitk.Transform(),
                                                sitk.sitkNearestNeighbor, 0)) > 0


def test_outside_the_crop_the_labels_nearest_voxel_is_used():
    r, gap, theta = 7.0, 2.5, 60.0
    phantom, centre, mc, tb = _joint(r, gap, theta)
    crop = _crop(centre, r, gap, theta, half_mm=6.0, shift=(0.0, 0.0, 6.0))  # upper half only
    reference, fine_mc, fine_tb = FM.masks_from_probabilities(crop, phantom.labels, mc, tb)
    z = _centres(reference, np.ones(fine_mc.shape, bool))[:, 2].reshape(fine_mc.shape)
    below = z < centre[2] - 0.5
    assert np.array_equal(fine_mc[below], _nearest(phantom.labels, mc, reference)[below])
    assert np.array_equal(fine_tb[below], _nearest(phantom.labels, tb, reference)[below])
    assert not np.array_equal(fine_mc[~below], _nearest(phantom.labels, mc, reference)[~below])


def test_temporal_bone_from_the_labels_when_asked():
    r, gap, theta = 7.0, 2.5, 60.0
    phantom, centre, mc, tb = _joint(r, gap, theta)
    reference, _, fine_tb = FM.masks_from_probabilities(_crop(centre, r, gap, theta),
                                                       phantom.labels, mc, tb, use_tb=False)
    _, (sbi_tb,) = SI.fine_masks(phantom.labels, (tb,))
    assert np.array_equal(fine_tb, sbi_tb & ~FM.masks_from_probabilities(
        _crop(centre, r, gap, theta), phantom.labels, mc, tb)[1])
    # against the cap itself (R <= |p - c| <= R + 3 mm within theta of superior): its volume
    # within 5 % (+2.4 %), its centroid on the axis above the centre, at z-bar = 3 (b^4 - a^4)
    # (1 + cos theta) / (8 (b^3 - a^3)), within a third of a fine voxel (0.04 mm off)
    a, b, cos_theta = r + gap, r + gap + TB_THICKNESS, np.cos(np.radians(theta))
    points = _centres(reference, fine_tb)
    volume = 2.0 * np.pi / 3.0 * (1.0 - cos_theta) * (b ** 3 - a ** 3)
    assert len(points) * SI.FINE_STEP_MM ** 3 == pytest.approx(volume, rel=0.05)
    z_bar = 3.0 * (b ** 4 - a ** 4) * (1.0 + cos_theta) / (8.0 * (b ** 3 - a ** 3))
    off = points.mean(axis=0) - (centre + [0.0, 0.0, z_bar])
    assert np.abs(off).max() <= SI.FINE_STEP_MM / 3, off


def test_condyle_lower_plane_is_placed_on_the_fine_grid():
    """A condyle whose neck runs on (a vertical capsule: ball of radius 5 mm on a 4 mm neck,
    exact probabilities) segmented on a 1 mm CT and cut there 15 mm below its top
    (post-processing): on the fine grid the lowest condyle voxel lies 15 mm below the exact top
    within a fine voxel (the CT grid's cut and the one-voxel margin left it up to ~1.5 mm off)."""
    from NegativeVolumeSegmentationLib.inference import postprocess as PP

    top = np.array([1.3, -0.7, 10.35])          # exact top of the capsule, off the CT's centres
    radius, neck = 5.0, 4.0

    def p_condyle(points):
        axis_z = np.clip(points[:, 2], top[2] - 40.0, top[2] - radius)
        ball = np.linalg.norm(points - np.stack([np.full(len(points), top[0]),
                                                 np.full(len(points), top[1]), axis_z], 1),
                              axis=1)
        r = np.where(points[:, 2] >= top[2] - radius, radius, neck)
        return _logistic(r - ball)

    step, half = 0.5, 24.0
    n = int(round(2 * half / step))
    corner = top + np.array([-half, -half, -2 * half + 4.0]) + step / 2
    crop_ref = sitk.Image([n, n, n], sitk.sitkUInt8)
    crop_ref.SetSpacing([step] * 3)
    crop_ref.SetOrigin(corner.tolist())
    kji = np.indices((n, n, n)).reshape(3, -1).T[:, ::-1].astype(float)
    p_mc = p_condyle(kji * step + corner).reshape(n, n, n).astype(np.float32)
    crop = FM.CropProbabilities(crop_ref, p_mc, np.zeros_like(p_mc))

    ct = sitk.Image([24, 24, 30], sitk.sitkUInt8)
    ct.SetOrigin((top + np.array([-11.5, -11.5, -25.5])).tolist())
    mc = (p_condyle(_centres(ct, np.ones((30, 24, 24), bool))) > 0.5).reshape(30, 24, 24)
    mc_cut, _ = PP.label_extent(mc, np.zeros_like(mc), PP.GridPoints(ct))
    reference, fine_mc, _ = FM.masks_from_probabilities(crop, ct, mc_cut, np.zeros_like(mc))
    z = _centres(reference, fine_mc)[:, 2]
    assert z.max() == pytest.approx(top[2], abs=SI.FINE_STEP_MM)
    assert top[2] - 15.0 - 1e-6 <= z.min() <= top[2] - 15.0 + SI.FINE_STEP_MM
