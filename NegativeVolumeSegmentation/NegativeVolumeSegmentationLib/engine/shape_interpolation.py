"""Bone masks of one joint on a fine isotropic grid, from masks on a coarse CT grid.

On clinical CT grids (0.5-0.8 mm pixels, 1.25-2 mm slices) the 2-3 mm joint space is one or two
slices thick. Surfaces built on such a grid and smoothed sit inside the joint space, and the NV
comes out 6-15 % low (docs/method.md, "Clinical CT grids"). The engine therefore builds the
condyle and temporal-bone surfaces of a coarse grid on a fine one, by shape-based interpolation
(Raya and Udupa 1990; Herman, Zheng and Bucholtz 1992): every coarse voxel centre gets its signed
Euclidean distance (mm, with the grid's anisotropic spacing) to the nearest voxel centre of the
other kind (positive inside, negative outside); this field, interpolated onto an isotropic grid
of ``FINE_STEP_MM`` by a cubic B-spline through the samples, is > 0 inside the shape. Across
slices it follows the in-plane distances of the slices around, so a dome narrows towards its top
instead of ending in a step. The cubic spline was chosen over trilinear interpolation on the
clinical-grid phantoms (docs/method.md, "Clinical CT grids": 0.9-1.4 points closer to the truth).

The spline passes through the samples, so at the coarse voxel centres the field has the mask's
own sign: the fine shape keeps every inside centre and no outside one, and volumes counted on the
CT grid do not change. Grids and points are physical (LPS mm): the fine grid has the coarse
image's axes (in LPS order) and covers the same voxels, its voxel centres on one lattice of the
physical space (:func:`fine_grid`).
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

FINE_STEP_MM = 0.3   # the engine is within 1 % of the phantoms' truth on 0.3 mm grids
COARSE_MM = 0.5      # a grid with a voxel edge longer than this is measured on the fine grid;
                     # finer grids as they are (refining 0.5 mm grids too moved the small
                     # analytic caps of Testing/engine/test_negative_volume.py by up to +7.7 %)
OUTSIDE_MM = -1.0e3  # the field beyond the coarse grid: far outside
INTERPOLATOR = sitk.sitkBSpline  # cubic, interpolating (through the samples)


def is_coarse(image):
    """True when any voxel edge of ``image`` (SimpleITK) is longer than :data:`COARSE_MM`."""
    return max(image.GetSpacing()) > COARSE_MM + 1e-9


def signed_distance(mask, spacing):
    """Signed distance (mm, float32, (z, y, x)) of each voxel centre of boolean ``mask`` to the
    nearest centre of the other kind: > 0 inside, < 0 outside. ``spacing`` is (x, y, z) mm.
    ``mask`` must hold both kinds."""
    sampling = np.asarray(spacing, float)[::-1]
    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    outside = ndimage.distance_transform_edt(~mask, sampling=sampling)
    return (inside - outside).astype(np.float32)


def lps_ordered_direction(image):
    """``image``'s direction (3 x 3, columns = its index axes in LPS) with its columns reordered
    and signed so that column i runs along LPS axis i as nearly as it can: the same for the same
    physical grid stored in any axis order or sense (sagittal, coronal, mirrored arrays). A grid
    turned 45 degrees, whose axes have no nearest LPS axis each, keeps its own direction."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    nearest = np.argmax(np.abs(direction), axis=0)   # the LPS axis each index axis runs along
    if sorted(nearest.tolist()) != [0, 1, 2]:
        return direction
    out = np.zeros((3, 3))
    for j, i in enumerate(nearest):
        out[:, i] = np.sign(direction[i, j]) * direction[:, j]
    return out


def _extent(image, direction, box=None):
    """(low, high): the extent of ``image``'s voxels (their outer corners), or of those in the
    index box ``box`` ((i0, i1), x, y, z), in mm along the columns of ``direction``."""
    i0, i1 = (np.zeros(3), np.asarray(image.GetSize(), float)) if box is None else box
    corners = np.array([image.TransformContinuousIndexToPhysicalPoint((float(cx), float(cy),
                                                                       float(cz)))
                        for cx in (i0[0] - 0.5, i1[0] - 0.5) for cy in (i0[1] - 0.5, i1[1] - 0.5)
                        for cz in (i0[2] - 0.5, i1[2] - 0.5)])
    u = corners.dot(direction)
    return u.min(axis=0), u.max(axis=0)


def grid_corner(image, box=None):
    """The LPS point (mm) of the corner nearest to the patient's right, anterior, inferior of
    ``image``'s voxels, or of those in the index box ``box`` ((i0, i1), x, y, z): where
    :func:`fine_grid` may lay its voxels from."""
    direction = lps_ordered_direction(image)
    return direction.dot(_extent(image, direction, box)[0])


def fine_grid(image, step=FINE_STEP_MM, corner=None):
    """An empty SimpleITK image of isotropic ``step`` mm covering ``image``'s voxels.

    One grid for the physical space the image covers, not for its array: the axes are
    ``image``'s in LPS order (:func:`lps_ordered_direction`) and the fine voxels tile the coarse
    voxels' extent from its corner nearest to the patient's right, anterior, inferior (the origin
    a half fine voxel inside it). So the same scan stored in another axis order or sense is
    measured on the same fine voxels; before, a mirrored array shifted them by a fraction of a
    step (on the real head up to 1 % of a joint's NV and 0.36 mm of its minimum joint space).
    ``corner``: an LPS point (:func:`grid_corner`) the fine voxels are laid from instead, whole
    steps away (the pipeline's: the corner of the labelled part at the default rays' reach, so
    that the part of a scan measured, which grows with the rays' reach, does not move them).
    For an array stored in LPS order (x to the left, y posterior, z superior) this is the grid
    it always had."""
    direction = lps_ordered_direction(image)
    low, high = _extent(image, direction)
    if corner is not None:
        start = np.asarray(corner, float).dot(direction)
        low = start + np.floor((low - start) / step + 1e-6) * step
    extent = high - low
    count = np.maximum(np.ceil(extent / step - 1e-6).astype(int), 1)
    ref = sitk.Image([int(v) for v in count], sitk.sitkUInt8)
    ref.SetSpacing([float(step)] * 3)
    ref.SetDirection([float(v) for v in direction.ravel()])
    ref.SetOrigin([float(v) for v in direction.dot(low + 0.5 * step)])
    return ref


def interpolate_mask(image, mask, reference):
    """Boolean (z, y, x) mask on ``reference``'s grid of the shape whose samples on ``image``'s
    grid are ``mask`` (shape-based interpolation, module doc). An empty or full mask stays so."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(sitk.GetArrayViewFromImage(reference).shape, bool)
    if mask.all():
        return np.ones(sitk.GetArrayViewFromImage(reference).shape, bool)
    field = sitk.GetImageFromArray(signed_distance(mask, image.GetSpacing()))
    field.CopyInformation(image)
    fine = sitk.Resample(field, reference, sitk.Transform(), INTERPOLATOR, OUTSIDE_MM,
                         sitk.sitkFloat32)
    return sitk.GetArrayViewFromImage(fine) > 0.0


def fine_masks(image, masks, step=FINE_STEP_MM):
    """(fine reference image, [fine boolean masks]) of boolean (z, y, x) ``masks`` on ``image``."""
    reference = fine_grid(image, step)
    return reference, [interpolate_mask(image, m, reference) for m in masks]
