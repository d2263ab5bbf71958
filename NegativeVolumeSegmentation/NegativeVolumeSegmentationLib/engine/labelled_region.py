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
    grow = np.ceil(margin_mm / np.asarray(image.GetSpacing(), float)) + 1
    size = np.asarray(image.GetSize())
    return np.maximum(lo - grow.astype(int), 0), np.minimum(hi + grow.astype(int), size)


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
    grow = np.ceil(margin_mm / np.asarray(image.GetSpacing(), float)[::-1]).astype(int) + 1
    lo = [max(int(b.start) - int(g), 0) for b, g in zip(box, grow)]
    hi = [min(int(b.stop) + int(g), n) for b, g, n in zip(box, grow, array.shape)]
    crop = sitk.RegionOfInterest(image, [h - l for l, h in zip(lo, hi)][::-1], lo[::-1])
    return array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], crop


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
