"""The labelled part of a grid: where measuring looks, and pasting a measured part back.

A 0.2 mm CBCT holds 2.3 G voxels; its labels fill two joint-sized boxes. Measuring works on the
box around the labels grown by the rays' reach (no full-size copies), and the result is pasted
into one full-size uint8 image. Index boxes are (x, y, z) [i0, i1); arrays are (z, y, x).
Imports only numpy and SimpleITK (no VTK): the pipeline and the quality gate use it.
"""

import numpy as np
import SimpleITK as sitk

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
