"""A label map's grid against its CT's: the same scan, on the same or another voxel grid.

A label map drawn on the CT shares its grid; ``nvseg run`` writes its labels on a 0.3 mm grid
laid over the labelled part of the CT's voxels (from a corner, so its outermost centres may lie
up to half a fine voxel past the CT's cells); a label map drawn on a resampled copy lies on yet
another grid inside the CT. One whose voxel centres reach further past the CT's voxels is not of
this scan (a shifted origin, a wrong spacing or direction in its header): refused. Points in LPS
mm. SimpleITK + numpy only.
"""

import numpy as np
import SimpleITK as sitk

from ..errors import InputError


def same_grid(a, b, tolerance_mm=1e-3):
    """Whether SimpleITK images ``a`` and ``b`` share one voxel grid (size, spacing, origin,
    axes)."""
    return (tuple(a.GetSize()) == tuple(b.GetSize())
            and np.max(np.abs(np.subtract(a.GetSpacing(), b.GetSpacing()))) <= tolerance_mm
            and np.max(np.abs(np.subtract(a.GetOrigin(), b.GetOrigin()))) <= tolerance_mm
            and np.max(np.abs(np.subtract(a.GetDirection(), b.GetDirection()))) <= 1e-4)


def check_inside(labels_image, ct_image, name="the label map"):
    """InputError (one line) when a voxel centre of the label map lies outside the CT's voxels
    by more than half a label voxel: then they are not of one scan."""
    size = np.asarray(labels_image.GetSize(), float)
    slack = 0.5 + 0.5 * max(labels_image.GetSpacing()) / np.asarray(ct_image.GetSpacing()) + 1e-6
    for corner in np.ndindex(2, 2, 2):
        point = labels_image.TransformContinuousIndexToPhysicalPoint(
            [float(v) for v in np.asarray(corner) * (size - 1)])
        index = np.asarray(ct_image.TransformPhysicalPointToContinuousIndex(point))
        if np.any(index < -slack) or np.any(index > np.asarray(ct_image.GetSize()) - 1 + slack):
            raise InputError("%s reaches outside the CT (its corner at %s mm LPS): not the same "
                             "scan" % (name, ", ".join("%.1f" % v for v in point)))


def ct_on_label_grid(labels_image, ct_image):
    """(CT on the label map's grid, resampled: bool).

    The CT itself when both share one grid; else, once :func:`check_inside` passed, the CT
    resampled onto the label map's grid (linear, -1000 HU outside): the engine reads the CT there
    for the air rule, report.png for the picture."""
    if same_grid(labels_image, ct_image):
        return ct_image, False
    check_inside(labels_image, ct_image)
    resampled = sitk.Resample(ct_image, labels_image, sitk.Transform(), sitk.sitkLinear,
                              -1000.0, ct_image.GetPixelID())
    return resampled, True
