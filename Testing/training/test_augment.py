"""Augmentation keeps labels on the image; rotations, scaling, flips and spacing act as in physical space."""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.phantom import make_phantom
from NegativeVolumeSegmentationLib.training import augment as A
from NegativeVolumeSegmentationLib.training import data as D
from NegativeVolumeSegmentationLib.inference import crops as J
from NegativeVolumeSegmentationLib.training import label_crops as LC
from NegativeVolumeSegmentationLib.training.config import validate_config

SPACING = (0.6, 0.6, 0.6)
SIZE = (70, 70, 70)
ORIGIN = (-20.7, -20.7, -20.7)


def _sphere(centre, radius):
    """(CT: 1500 HU ball in 0 HU, labels: 1 in the ball) on a grid around the origin."""
    z, y, x = np.indices(SIZE[::-1]).astype(float)
    p = [ORIGIN[a] + (x, y, z)[a] * SPACING[a] for a in range(3)]
    inside = sum((p[a] - centre[a]) ** 2 for a in range(3)) <= radius ** 2
    images = []
    for arr in (np.where(inside, 1500.0, 0.0).astype(np.float32), inside.astype(np.uint8)):
        image = sitk.GetImageFromArray(arr)
        image.SetSpacing(SPACING)
        image.SetOrigin(ORIGIN)
        images.append(image)
    return images


def _aug(**changes):
    raw = {"model": {"name": "vnet"}, "schedule": {"iterations": 1}, "output": {"dir": "o"},
           "augment": changes}
    return validate_config(raw)["augment"]


def _apply(ct, lab, transform, reference):
    return (sitk.GetArrayFromImage(J.crop_ct(ct, reference, transform)),
            sitk.GetArrayFromImage(LC.crop_classes(lab, reference, transform)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bright_sphere_stays_labelled_after_rotation_scaling_and_elastic(seed):
    ct, lab = _sphere((4.0, -3.0, 2.0), 8.0)
    reference = J.crop_reference((0, 0, 0), L.LEFT, [60, 60, 60], [0.6] * 3)
    cfg = _aug(rotation_deg=30, scale=[0.85, 1.15],
               elastic={"probability": 1.0, "magnitude_mm": 2.0, "grid_mm": 12})
    transform = A.random_spatial(np.random.default_rng(seed), reference, (0, 0, 0), cfg)
    assert transform.GetNumberOfTransforms() == 2  # affine + elastic
    hu, classes = _apply(ct, lab, transform, reference)
    bright = hu > 750
    assert classes.sum() > 1000
    # image and label moved together: the labelled voxels are the bright ones
    assert (classes[bright] == 1).mean() > 0.97
    assert (bright[classes == 1]).mean() > 0.97
    # and something did move: the sphere is no longer where it was
    _, plain = _apply(ct, lab, None, reference)
    assert (plain != classes).sum() > 200


def test_rotation_moves_an_off_centre_ball_where_geometry_says():
    """T(p) = R (p - c) + c maps output to source: a ball at c + 10 x appears at c + R^-1 10 x."""
    ct, lab = _sphere((10.0, 0.0, 0.0), 4.0)
    reference = J.crop_reference((0, 0, 0), L.LEFT, [61, 61, 61], [0.5] * 3)
    transform = A.affine_about((0, 0, 0), A.rotation_matrix([0, 0, 90]))
    _, classes = _apply(ct, lab, transform, reference)
    image = sitk.GetImageFromArray(classes)
    image.CopyInformation(reference)
    assert np.allclose(LC.physical_centroid(image, 1), (0.0, -10.0, 0.0), atol=0.15)


def test_scaling_changes_the_volume_by_the_cube_of_the_factor():
    ct, lab = _sphere((0.0, 0.0, 0.0), 9.0)
    reference = J.crop_reference((0, 0, 0), L.LEFT, [70, 70, 70], [0.4] * 3)
    _, one = _apply(ct, lab, None, reference)
    _, big = _apply(ct, lab, A.affine_about((0, 0, 0), np.eye(3) * 0.8), reference)
    assert big.sum() / one.sum() == pytest.approx(0.8 ** -3, rel=0.04)


def test_flip_mirrors_across_the_sagittal_plane_and_swaps_side_labels():
    ct, lab = _sphere((8.0, 3.0, -2.0), 3.0)
    reference = J.crop_reference((0, 0, 0), L.LEFT, [51, 41, 41], [0.5] * 3)
    flipped = A.flipped_reference(reference)
    assert np.allclose(np.array(flipped.GetDirection()).reshape(3, 3), np.diag([-1, 1, 1]))
    _, a = _apply(ct, lab, None, reference)
    _, b = _apply(ct, lab, None, flipped)
    assert np.array_equal(a[:, :, ::-1], b)  # same physical grid, x axis reversed
    assert A.swap_sides(np.arange(8)).tolist() == [0, 2, 1, 4, 3, 6, 5, 7]


def test_coarser_spacing_keeps_the_extent_and_mean():
    ct, _ = _sphere((0.0, 0.0, 0.0), 10.0)
    out = A.coarser_spacing(ct, np.random.default_rng(3), [1.5, 1.5, 2.5])
    spacing = np.asarray(out.GetSpacing())
    assert np.all(spacing >= 0.6) and np.all(spacing <= [1.5, 1.5, 2.5]) and spacing[2] > 0.6
    extent_in = np.asarray(ct.GetSize()) * np.asarray(ct.GetSpacing())
    extent_out = np.asarray(out.GetSize()) * spacing
    assert np.all(np.abs(extent_out - extent_in) <= spacing)
    ball = 4 / 3 * np.pi * 10 ** 3 * 1500.0
    assert sitk.GetArrayViewFromImage(out).sum() * spacing.prod() == pytest.approx(ball, rel=0.05)


def test_intensity_contrast_shift_and_noise_are_what_was_asked():
    base = np.random.default_rng(0).normal(100.0, 300.0, (30, 30, 30)).astype(np.float32)
    cfg = {"contrast": [2.0, 2.0], "shift_hu": 0.0, "noise_hu": [0.0, 0.0], "blur_mm": [0.0, 0.0]}
    out = A.intensity(base, np.random.default_rng(1), cfg, (1, 1, 1))
    assert np.allclose(out, (base - base.mean()) * 2 + base.mean(), atol=1e-2)
    cfg = {"contrast": [1.0, 1.0], "shift_hu": 0.0, "noise_hu": [40.0, 40.0], "blur_mm": [0.0, 0.0]}
    flat = np.zeros((40, 40, 40), np.float32)
    assert A.intensity(flat, np.random.default_rng(2), cfg, (1, 1, 1)).std() == pytest.approx(40, rel=0.03)
    cfg = {"contrast": [1.0, 1.0], "shift_hu": 0.0, "noise_hu": [0.0, 0.0], "blur_mm": [2.0, 2.0]}
    assert A.intensity(base, np.random.default_rng(2), cfg, (1, 1, 1)).std() < 0.2 * base.std()


def test_training_sample_of_a_phantom_keeps_bone_labels_on_bone():
    phantom = make_phantom("analytic", 4, spacing=(0.7, 0.7, 0.7), noise_hu=0.0)
    truth_centres = {s: np.array(phantom.truth[s]["condyle_center_lps_mm"]) for s in L.SIDES}
    case = D.Case("p", sitk.Cast(phantom.ct, sitk.sitkFloat32), phantom.labels, truth_centres)
    raw = {"model": {"name": "vnet"}, "schedule": {"iterations": 1}, "output": {"dir": "o"},
           "data": {"target_spacing_mm": [0.6, 0.6, 0.6], "patch_size": [40, 40, 40],
                    "crop_size_mm": [26, 26, 26], "crop_offset_mm": [0, 0, 0], "centre_jitter_mm": 2},
           "augment": {"rotation_deg": 25, "elastic": {"probability": 1.0, "magnitude_mm": 1.5},
                       "intensity": {"contrast": [1, 1], "shift_hu": 0, "noise_hu": [0, 0],
                                     "blur_mm": [0, 0]}, "spacing": {"probability": 0.0}}}
    cfg = validate_config(raw)
    sources = D.joint_sources(case, cfg)
    assert sorted(s.side for s in sources) == sorted(L.SIDES)
    intensity = cfg["data"]["intensity"]
    mid = (620.0 - intensity["center_hu"]) / intensity["scale_hu"]  # midway tissue 40 / bone 1200 HU
    bright = (1050.0 - intensity["center_hu"]) / intensity["scale_hu"]
    for i in range(4):
        x, y = D.segmentation_sample(sources[i % 2], np.random.default_rng(i), cfg)
        assert x.shape == y.shape == (40, 40, 40) and x.dtype == np.float32
        assert (y == 1).sum() > 500 and (y == 2).sum() > 50
        # labelled voxels are bone (partial-volume edge voxels of the blurred CT aside) ...
        assert (x[y > 0] > mid).mean() > 0.9
        # ... and clearly bright voxels are all labelled
        assert (y[x > bright] > 0).mean() > 0.99
