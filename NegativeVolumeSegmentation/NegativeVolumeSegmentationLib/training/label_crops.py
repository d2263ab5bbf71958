"""Class crops of the training labels around one joint, for training and evaluation: classes 0
background, 1 mandibular condyle (MC), 2 temporal bone (TB) (or fewer classes for one-structure
models; see :func:`class_values`), resampled nearest-neighbour (labels are never blended) onto the
joint crop frame of :mod:`..inference.crops`.
"""

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..inference.crops import crop_centre, crop_ct, crop_reference, resample_to


def class_values(side, structures=("condyle", "temporal_bone")):
    """{label value of docs/interfaces.md: class index} for one side's crop: MC -> 1, TB -> next."""
    table = {"condyle": L.CONDYLE, "temporal_bone": L.TEMPORAL_BONE}
    return {table[name][side]: index + 1 for index, name in enumerate(structures)}


def side_classes(label_image, side, structures=("condyle", "temporal_bone")):
    """A uint8 image on ``label_image``'s grid: that side's MC/TB as classes 1, 2; all else 0."""
    arr = sitk.GetArrayViewFromImage(label_image)
    out = np.zeros(arr.shape, np.uint8)
    for value, cls in class_values(side, structures).items():
        out[arr == value] = cls
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(label_image)
    return image


def crop_classes(class_image, reference, transform=None):
    """A class image (0, 1, 2) on the crop grid, nearest-neighbour (labels are never blended)."""
    return resample_to(class_image, reference, sitk.sitkNearestNeighbor, 0, transform,
                       sitk.sitkUInt8)


def crop_joint(ct, label_image, joint_centre_lps, side, size_xyz, spacing_mm,
               offset_mm=(0.0, 0.0, 0.0), structures=("condyle", "temporal_bone")):
    """(CT crop float32 HU, class crop uint8) of one joint; both SimpleITK images on one grid."""
    reference = crop_reference(crop_centre(joint_centre_lps, side, offset_mm), side, size_xyz,
                               spacing_mm)
    classes = None
    if label_image is not None:
        classes = crop_classes(side_classes(label_image, side, structures), reference)
    return crop_ct(ct, reference), classes


def physical_centroid(mask_image, value=None):
    """Centroid (LPS mm) of the voxels of ``mask_image`` equal to ``value`` (non-zero if None)."""
    arr = sitk.GetArrayViewFromImage(mask_image)
    zyx = np.argwhere(arr != 0 if value is None else arr == value)
    if zyx.size == 0:
        return None
    index = zyx[:, ::-1].mean(axis=0)
    return np.array(mask_image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in index)))


def roi_around(image, centre_lps, half_mm):
    """The native-grid sub-image of voxels within ``half_mm`` (per axis, any orientation) of
    ``centre_lps``, clipped to the image; None when the box misses the image."""
    centre = np.asarray(centre_lps, float)
    corners = [centre + np.array([sx, sy, sz]) * half_mm
               for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    idx = np.array([image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in c))
                    for c in corners])
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(image.GetSize()))
    if np.any(hi <= lo):
        return None
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo], [int(v) for v in lo])
