"""The labelled part of a grid: where measuring looks, and pasting a measured part back.

A 0.2 mm CBCT holds 2.3 G voxels; its labels fill two joint-sized boxes. Measuring works on the
box around the labels grown by the rays' reach (no full-size copies), and the result is pasted
into one full-size uint8 image. Index boxes are (x, y, z) [i0, i1); arrays are (z, y, x).
Imports only numpy, scipy and SimpleITK (no VTK): the pipeline and the quality gate use it.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

ROI_MARGIN_MM = 3.0


def lps_points(image, kji):
    """LPS mm (n, 3) of voxel indices of ``image``'s grid given as (z, y, x) index arrays."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    scale = direction * np.asarray(image.GetSpacing(), float)[None, :]
    idx = np.stack([kji[2], kji[1], kji[0]], axis=1).astype(float)
    return idx @ scale.T + np.asarray(image.GetOrigin(), float)


def values_at(array, image, points):
    """The value (nearest voxel) of ``array`` (z, y, x on ``image``'s grid: labels or HU) at
    each LPS point; 0 outside the grid."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    ijk = (points - np.asarray(image.GetOrigin(), float)) @ direction
    ijk = np.round(ijk / np.asarray(image.GetSpacing(), float)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(image.GetSize())), axis=1)
    out = np.zeros(len(points), dtype=array.dtype)
    out[inside] = array[ijk[inside, 2], ijk[inside, 1], ijk[inside, 0]]
    return out


def working_margin_mm(max_distance, mode, cube_mm):
    """mm around the labels that measuring one joint looks at: the rays' reach plus
    ``ROI_MARGIN_MM`` (the paper mode's cube reaches half its edge)."""
    reach = max_distance if mode != "paper" else max(max_distance, cube_mm / 2.0)
    return reach + ROI_MARGIN_MM


def labelled_box(image, margin_mm, array=None):
    """Index box (x, y, z order) [i0, i1) of the non-zero voxels grown by ``margin_mm`` and one
    voxel (so a structure touches the box's edge only where it touches the image's), or None
    when every voxel is 0. ``array``: the image's (z, y, x) voxels when held as numpy. No
    full-size copy is made (memory: a 0.2 mm CBCT)."""
    view = sitk.GetArrayViewFromImage(image) if array is None else array
    kji = [np.flatnonzero(_nonzero_along(view, axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    if len(kji[0]) == 0:
        return None
    lo = np.array([kji[2][0], kji[1][0], kji[0][0]])
    hi = np.array([kji[2][-1], kji[1][-1], kji[0][-1]]) + 1
    return grown_box(image, lo, hi, margin_mm, extra_voxels=1)


def grown_box(image, lo, hi, margin_mm, extra_voxels=0):
    """Index box (x, y, z order) [lo, hi) grown on each axis by ``margin_mm`` rounded up to
    whole voxels of ``image`` plus ``extra_voxels``, clipped to the image."""
    grow = np.ceil(margin_mm / np.asarray(image.GetSpacing(), float)).astype(int) + extra_voxels
    size = np.asarray(image.GetSize())
    return np.maximum(np.asarray(lo) - grow, 0), np.minimum(np.asarray(hi) + grow, size)


def box_around(image, kji, margin_mm):
    """Index box (x, y, z order) [i0, i1) around the voxels ``kji`` ((z, y, x) index arrays)
    grown by ``margin_mm`` (whole voxels, rounded up) on each axis, within the image."""
    lo = np.array([kji[2].min(), kji[1].min(), kji[0].min()])
    hi = np.array([kji[2].max(), kji[1].max(), kji[0].max()]) + 1
    return grown_box(image, lo, hi, margin_mm)


def crop(image, i0, i1):
    """The part [i0, i1) (index box, x, y, z order) of a SimpleITK image, geometry kept."""
    return sitk.RegionOfInterest(image, [int(v) for v in i1 - i0], [int(v) for v in i0])


def _nonzero_along(view, axes):
    """Boolean per index of the axis not in ``axes``: any non-zero voxel there. Max / min
    reductions (np.any would cast the whole array to bool first)."""
    found = view.max(axis=axes) != 0
    if not np.issubdtype(view.dtype, np.unsignedinteger):
        found |= view.min(axis=axes) != 0
    return found


def label_boxes(array):
    """{label value: (z, y, x) slices of its voxels' bounding box} of an integer (z, y, x)
    label array, in one pass (a 0.3 mm grid over both joints holds ~50 M voxels: a full-size
    ``np.nonzero`` per label and check took ~0.1 s each)."""
    return {value + 1: box for value, box in enumerate(ndimage.find_objects(array))
            if box is not None}


def label_voxels(array, value, boxes):
    """(z, y, x) index arrays of the voxels of ``array`` equal to ``value``, searched inside
    its bounding box from :func:`label_boxes` only; empty arrays when it has none."""
    box = boxes.get(value)
    if box is None:
        return tuple(np.zeros(0, np.intp) for _ in range(array.ndim))
    return tuple(ix + s.start for ix, s in zip(np.nonzero(array[box] == value), box))


def part_around(array, image, box, margin_mm):
    """(array, image) of the part of the grid around ``box`` ((z, y, x) slices) grown by
    ``margin_mm`` and one voxel, within the grid (the whole grid when ``box`` is None). A
    structure touches the part's edge only where it touches the grid's, and whatever lies within
    ``margin_mm`` of the box lies inside the part."""
    if box is None:
        return array, image
    i0, i1 = grown_box(image, [b.start for b in box[::-1]], [b.stop for b in box[::-1]],
                       margin_mm, extra_voxels=1)
    return array[i0[2]:i1[2], i0[1]:i1[1], i0[0]:i1[0]], crop(image, i0, i1)


def paste(reference, part, box):
    """uint8 image on ``reference``'s grid holding ``part`` (uint8 image of the box's size) in
    index ``box`` and 0 elsewhere; ``part`` itself when ``box`` is None. One full-size
    allocation: the part is written in place (SimpleITK slice assignment)."""
    if box is None:
        return part
    (x0, y0, z0), (x1, y1, z1) = [[int(v) for v in b] for b in box]
    image = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
    image.CopyInformation(reference)
    image[x0:x1, y0:y1, z0:z1] = part
    return image
