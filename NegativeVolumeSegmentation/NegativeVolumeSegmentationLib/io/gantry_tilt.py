"""Gantry tilt and uneven slices of a DICOM series: check, then resample onto an orthogonal grid.

SimpleITK/GDCM stacks the slices as if they lay on a regular grid along the slice normal: origin
of the first slice, direction from ImageOrientationPatient, slice spacing from the first two
positions. A tilted gantry (the stacking axis has a component in the slice plane) or uneven
slice positions break that assumption and every physical position (and volume) along the slice
axis is then wrong. As Slicer's DICOM scalar volume plugin (acquisition geometry regularisation)
and dcm2niix do, the true geometry is rebuilt from the per-slice ImagePositionPatient and the
ImageOrientationPatient and the volume is resampled:

* in-plane axes and pixel spacing are kept; the slice axis is the slice normal (row × column);
* slice spacing = the mean spacing along the normal (first to last slice / (n − 1));
* the grid covers the whole sheared volume; voxels outside it are air (-1000 HU);
* each slice is sampled where it truly lies: output slice m (at distance m·spacing along the
  normal) is the linear blend of the two acquired slices around it, each shifted in plane by its
  own offset (bilinear). With even slices every output slice is one acquired slice, shifted.

Badly uneven series (a missing slice, spacing varying by more than MAX_SLICE_GAP_VARIATION) are
refused: interpolating across such a gap invents the joint space.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputError

SLICE_GAP_TOLERANCE = 0.01        # relative variation of slice spacing accepted without resampling
# Slice gaps differing from the median gap by more than this fraction are refused. The TMJ joint
# space is 2-3 mm wide and head CTs have 0.5-1 mm slices: a missing slice doubles one gap (+100 %)
# and leaves 1-2 mm unsampled, most of the joint space, which interpolation would fill with
# invented bone or air. Rounding of positions or table jitter gives a few %; up to 50 % (a gap of
# at most 1.5 slice spacings, <= 1.5 mm, so the joint space still holds two samples) is resampled.
MAX_SLICE_GAP_VARIATION = 0.5
# Slices shifted in plane (relative to the first slice, along the normal) by more than this
# fraction of a pixel are sheared (gantry tilt) and resampled; DICOM positions are exact to ~1e-4 mm.
SHEAR_PIXELS = 0.1
AIR_HU = -1000.0                  # value of voxels outside the acquired (sheared) volume
BLEND_EPSILON = 1e-6              # slice weights below this are skipped (output slice = one slice)


def slice_axes(image):
    """(row, column, normal) unit vectors (LPS) of an image read from a DICOM series."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    row, column = direction[:, 0], direction[:, 1]
    normal = np.cross(row, column)
    return row, column, normal / np.linalg.norm(normal)


def check_slice_gaps(distances, name):
    """InputError when the gaps between consecutive slice ``distances`` (mm along the normal,
    sorted) vary by more than MAX_SLICE_GAP_VARIATION of their median (missing slices)."""
    gaps = np.abs(np.diff(distances))
    median = float(np.median(gaps))
    if np.abs(gaps - median).max() > MAX_SLICE_GAP_VARIATION * median:
        raise InputError("%s: DICOM slice spacing varies from %.3f to %.3f mm (more than %d %% "
                         "of the median %.3f mm: missing slices or a mixed series); it cannot be "
                         "resampled reliably" % (name, gaps.min(), gaps.max(),
                                                 round(100 * MAX_SLICE_GAP_VARIATION), median))
    return gaps


def _shifted(plane, offset, shape):
    """``plane`` sampled at (index + offset) on a grid of ``shape`` (bilinear, air outside)."""
    return ndimage.affine_transform(plane, np.ones(2), offset=offset, output_shape=shape, order=1,
                                    mode="constant", cval=AIR_HU, prefilter=False)


def regularise_slices(image, positions, name):
    """Resample a series read by SimpleITK onto an orthogonal, evenly spaced grid when its slices
    are tilted (sheared) or unevenly spaced; returns (image, warnings).

    ``positions``: ImagePositionPatient (LPS mm) of each slice, in the image's slice order.
    Images already on such a grid are returned unchanged, with no warning.
    """
    positions = np.asarray(positions, dtype=float)
    row, column, normal = slice_axes(image)
    spacing = image.GetSpacing()
    array = sitk.GetArrayFromImage(image)
    offsets = positions - positions[0]
    distances = offsets @ normal
    if distances[-1] < distances[0]:          # stack from the lowest slice along the normal
        array, positions, offsets = array[::-1], positions[::-1], offsets[::-1] - offsets[-1]
        distances = offsets @ normal
    gaps = check_slice_gaps(distances, name)
    along_row, along_column = offsets @ row, offsets @ column
    sheared = max(np.abs(along_row).max() / spacing[0],
                  np.abs(along_column).max() / spacing[1]) > SHEAR_PIXELS
    uneven = np.abs(gaps - np.median(gaps)).max() > SLICE_GAP_TOLERANCE * np.median(gaps)
    if not (sheared or uneven):
        return image, []
    count = len(distances)
    step = distances[-1] / (count - 1)
    first_row, first_column = along_row.min(), along_column.min()
    shape = (int(np.ceil((along_column.max() - first_column) / spacing[1] - 1e-3)) + array.shape[1],
             int(np.ceil((along_row.max() - first_row) / spacing[0] - 1e-3)) + array.shape[2])
    result = np.empty((count,) + shape, dtype=np.float32)
    for index in range(count):
        where = min(max(index * step, 0.0), distances[-1])
        below = min(int(np.searchsorted(distances, where, side="right")) - 1, count - 2)
        weight = (where - distances[below]) / (distances[below + 1] - distances[below])
        total = np.zeros(shape, dtype=np.float64)
        used = 0.0
        for k, w in ((below, 1.0 - weight), (below + 1, weight)):
            if w > BLEND_EPSILON:
                offset = ((first_column - along_column[k]) / spacing[1],
                          (first_row - along_row[k]) / spacing[0])
                total += w * _shifted(array[k].astype(np.float32), offset, shape)
                used += w
        result[index] = total / used
    out = sitk.GetImageFromArray(result)
    out.SetSpacing((spacing[0], spacing[1], float(step)))
    out.SetDirection(np.column_stack([row, column, normal]).ravel().tolist())
    out.SetOrigin((positions[0] + first_row * row + first_column * column).tolist())
    warnings = []
    if sheared:
        stack = offsets[-1] / np.linalg.norm(offsets[-1])
        tilt = np.degrees(np.arccos(min(1.0, abs(float(stack @ normal)))))
        warnings.append("%s: DICOM slices are tilted by %.1f degrees (gantry tilt); corrected by "
                        "resampling onto an orthogonal grid along the slice normal" % (name, tilt))
    if uneven:
        warnings.append("%s: DICOM slice spacing varies from %.3f to %.3f mm (uneven slices); "
                        "resampled to an even %.3f mm along the slice normal"
                        % (name, gaps.min(), gaps.max(), step))
    return out, warnings
