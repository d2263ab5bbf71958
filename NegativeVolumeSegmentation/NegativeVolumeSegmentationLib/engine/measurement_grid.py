"""The fine grid a segmented CT is measured on, whatever the CT's own grid.

When the labels come with finer shapes (the segmentation network's probabilities,
``inference/fine_masks.py``), the engine measures on ONE isotropic grid of
:data:`.shape_interpolation.FINE_STEP_MM` (0.3 mm) with the CT's axes in LPS order, tiling the
labelled part of the CT grid from its corner, or from a corner the caller gives whole steps
away (:func:`.shape_interpolation.fine_grid`: the same fine voxels whatever order the CT's array
is stored in, and whatever the rays' reach): the surfaces, the NV voxels and the
condyle volume are all on it, and so are the label map and the segmentation the user gets (a
segmentation may carry its own geometry).
Counting the NV at the CT's own voxel centres instead read 2-5 % below the count on the fine grid
on 2 mm slices (whole-head phantoms, docs/method.md, "Measuring on the network's probabilities").

Each joint's region of interest (its condyle's box grown by the rays' reach) takes the finer
shapes; the rest of the labelled part keeps the CT grid's labels, nearest-neighbour (bone far
from a joint, shown, never measured). A joint without finer shapes takes the shape-based
interpolation of its labels. The CT comes along (linear, int16 HU) for the air rule. Grids and
points are physical (LPS mm); arrays (z, y, x).
"""

import numpy as np
import SimpleITK as sitk

from . import shape_interpolation

AIR_HU = -1000


def needs_fine_grid(image):
    """Whether ``image`` (SimpleITK) is coarser than the fine grid on any axis."""
    return max(image.GetSpacing()) > shape_interpolation.FINE_STEP_MM + 1e-9


def corner_indices(image, grid):
    """(8, 3) continuous indices (x, y, z) in ``grid`` of the outer corners of ``image``'s
    voxels (SimpleITK images in one physical space)."""
    size = np.asarray(image.GetSize(), float)
    corners = []
    for cx in (-0.5, size[0] - 0.5):
        for cy in (-0.5, size[1] - 0.5):
            for cz in (-0.5, size[2] - 0.5):
                point = image.TransformContinuousIndexToPhysicalPoint((cx, cy, cz))
                corners.append(grid.TransformPhysicalPointToContinuousIndex(point))
    return np.asarray(corners)


def sub_grid(grid, image):
    """(empty SimpleITK image, (j0, j1)): the part of ``grid`` whose voxel centres lie inside
    ``image``'s voxels (both share the direction), with its index box (x, y, z) in ``grid``."""
    corners = corner_indices(image, grid)
    j0 = np.maximum(np.ceil(corners.min(axis=0) - 1e-6).astype(int), 0)
    j1 = np.minimum(np.floor(corners.max(axis=0) + 1e-6).astype(int) + 1,
                    np.asarray(grid.GetSize()))
    j1 = np.maximum(j1, j0 + 1)
    part = sitk.Image([int(v) for v in j1 - j0], sitk.sitkUInt8)
    part.SetSpacing(grid.GetSpacing())
    part.SetDirection(grid.GetDirection())
    part.SetOrigin(grid.TransformIndexToPhysicalPoint([int(v) for v in j0]))
    return part, (j0, j1)


def fine_labels(label_image, arr, joints, fine_masks, corner=None):
    """(fine grid image, uint8 (z, y, x) labels on it) of ``label_image`` / its labels ``arr``.

    Args:
        label_image: the labelled part of the CT grid (SimpleITK); ``arr`` its labels (1-4).
        corner: the LPS point the fine voxels are laid from (:func:`.shape_interpolation.
            grid_corner` of the whole CT), or None: ``label_image``'s own corner.
        joints: [(condyle value, temporal-bone value, ROI index box (i0, i1) (x, y, z) on
            ``label_image``)], one per joint to refine.
        fine_masks: callable (condyle value, ROI image, MC mask, TB mask, reference) ->
            (MC mask, TB mask) boolean on ``reference``, or None (then shape-based
            interpolation of the labels).
    """
    grid = shape_interpolation.fine_grid(label_image, corner=corner)
    labels = sitk.GetImageFromArray(arr)
    labels.CopyInformation(label_image)
    out = sitk.GetArrayFromImage(sitk.Resample(labels, grid, sitk.Transform(),
                                               sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))
    del labels
    for mc_value, tb_value, (i0, i1) in joints:
        sub = (slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))
        roi = sitk.RegionOfInterest(label_image, [int(v) for v in i1 - i0], [int(v) for v in i0])
        mc, tb = arr[sub] == mc_value, arr[sub] == tb_value
        reference, (j0, j1) = sub_grid(grid, roi)
        masks = fine_masks(mc_value, roi, mc, tb, reference)
        if masks is None:
            masks = [shape_interpolation.interpolate_mask(roi, m, reference) for m in (mc, tb)]
        block = out[j0[2]:j1[2], j0[1]:j1[1], j0[0]:j1[0]]
        mine = (block == 0) | (block == mc_value) | (block == tb_value)
        block[mine] = 0
        block[mine & masks[1]] = tb_value
        block[mine & masks[0]] = mc_value
    return grid, out


def fine_ct(ct, grid):
    """The CT resampled (linear, int16 HU, air outside) onto ``grid``."""
    return sitk.Resample(ct, grid, sitk.Transform(), sitk.sitkLinear, float(AIR_HU),
                         sitk.sitkInt16)
