"""The engine's 0.3 mm measurement grid (engine/measurement_grid.py): geometry against the grids'
own definition, and the label map built on it from a coarse one against shape-based
interpolation (inside a joint's region) and the coarse labels themselves (outside)."""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.engine import measurement_grid as MG
from NegativeVolumeSegmentationLib.engine import shape_interpolation as SI
from NegativeVolumeSegmentationLib.phantom.analytic_truth import rotation_matrix


def _oblique_image(size=(40, 36, 12), spacing=(0.6, 0.6, 2.0)):
    image = sitk.Image(list(size), sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetDirection(rotation_matrix([1.0, 2.0, 0.5], 20.0).ravel().tolist())
    image.SetOrigin((12.3, -40.1, 7.7))
    return image


def _continuous(image, points):
    return np.array([image.TransformPhysicalPointToContinuousIndex(p) for p in points])


def _centres(image):
    size = image.GetSize()
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), -1).reshape(-1, 3)
    return [image.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in idx]


def test_sub_grid_holds_exactly_the_fine_centres_inside_a_region():
    coarse = _oblique_image()
    grid = SI.fine_grid(coarse)
    roi = sitk.RegionOfInterest(coarse, [10, 9, 4], [7, 5, 3])
    part, (j0, j1) = MG.sub_grid(grid, roi)
    assert part.GetSpacing() == grid.GetSpacing() and part.GetDirection() == grid.GetDirection()
    assert np.allclose(part.GetOrigin(), grid.TransformIndexToPhysicalPoint([int(v) for v in j0]))
    inside = _continuous(roi, _centres(part))
    assert np.all(inside >= -0.5 - 1e-6) and np.all(inside <= np.asarray(roi.GetSize()) - 0.5 + 1e-6)
    # one fine step further out on each face lies outside the region
    for axis in range(3):
        for index, sign in ((j0[axis] - 1, -1), (j1[axis], +1)):
            probe = np.asarray(j0 + (j1 - j0) // 2, float)
            probe[axis] = index
            point = grid.TransformContinuousIndexToPhysicalPoint([float(v) for v in probe])
            c = _continuous(roi, [point])[0][axis]
            assert c < -0.5 or c > roi.GetSize()[axis] - 0.5, (axis, sign, c)


def test_fine_labels_interpolated_in_the_joint_region_and_kept_outside():
    coarse = _oblique_image(size=(50, 40, 14))
    # a ball of radius 5 mm (condyle, 1) under a slab (temporal bone, 3), and a far block of 3
    centres = np.asarray(_centres(coarse)).reshape(50, 40, 14, 3).transpose(2, 1, 0, 3)
    ball_centre = np.asarray(coarse.TransformContinuousIndexToPhysicalPoint((14.0, 20.0, 6.0)))
    arr = np.zeros((14, 40, 50), np.uint8)
    arr[np.linalg.norm(centres - ball_centre, axis=-1) <= 5.0] = 1
    far = np.zeros_like(arr, bool)
    far[:, :, 42:] = True
    arr[far] = 3
    image = sitk.GetImageFromArray(arr)
    image.CopyInformation(coarse)
    box = (np.array([2, 4, 0]), np.array([30, 36, 14]))
    grid, fine = MG.fine_labels(image, arr.copy(), [(1, 3, box)], lambda *args: None)
    assert grid.GetSpacing() == pytest.approx((SI.FINE_STEP_MM,) * 3)
    roi = sitk.RegionOfInterest(image, [int(v) for v in box[1] - box[0]], [int(v) for v in box[0]])
    _part, (j0, j1) = MG.sub_grid(grid, roi)
    # the ball's interpolated volume is the ball's within 3 % (2 mm slices), centred on the ball
    # (measured 0.02 mm off) and no voxel beyond a quarter slice of its surface (5.34 mm)
    assert (fine == 1).sum() * SI.FINE_STEP_MM ** 3 == pytest.approx(4 / 3 * np.pi * 125, rel=0.03)
    kji = np.argwhere(fine == 1).astype(float)
    points = (kji[:, ::-1] * grid.GetSpacing()) @ np.reshape(grid.GetDirection(), (3, 3)).T \
        + grid.GetOrigin()
    assert np.linalg.norm(points.mean(axis=0) - ball_centre) <= 0.1
    assert np.linalg.norm(points - ball_centre, axis=1).max() <= 5.0 + 0.5
    # far from the joint the coarse labels, nearest neighbour
    nearest = sitk.GetArrayFromImage(sitk.Resample(image, grid, sitk.Transform(),
                                                   sitk.sitkNearestNeighbor, 0))
    outside = np.ones(fine.shape, bool)
    outside[j0[2]:j1[2], j0[1]:j1[1], j0[0]:j1[0]] = False
    assert np.array_equal(fine[outside], nearest[outside])
    assert (fine == 3).any()


def test_fine_ct_is_int16_hu_with_air_outside():
    ct = sitk.Image([8, 8, 4], sitk.sitkFloat32) + 400.0
    ct.SetSpacing((0.6, 0.6, 2.0))
    grid = SI.fine_grid(ct)
    big = sitk.Image([int(v) + 4 for v in grid.GetSize()], sitk.sitkUInt8)
    big.SetSpacing(grid.GetSpacing())
    big.SetOrigin([o - 0.6 for o in grid.GetOrigin()])
    out = MG.fine_ct(ct, big)
    assert out.GetPixelID() == sitk.sitkInt16
    values = sitk.GetArrayViewFromImage(out)
    assert values.max() == 400 and values.min() == MG.AIR_HU
