"""Crops around one temporomandibular joint at a target spacing, right joints mirrored onto the
left: the joint crop frame used at inference and in training.

The crop frame of a joint is an axis-aligned LPS grid centred on the joint (condyle centre plus an
offset) whose direction matrix is the identity for the patient's LEFT joint and diag(-1, 1, 1) for
the RIGHT joint. Array index x therefore always runs LATERALLY (towards +x for the left joint,
towards -x for the right one): a right joint's crop array is its mirror image across the sagittal
plane and looks like a left joint, so one model serves both sides. The crop image keeps its true
geometry (origin, spacing, direction), so results map back onto any CT grid exactly by
resampling (SimpleITK) -- no array-order guess is ever made.

Whole-head grids (localiser, symmetry search): :mod:`.head_grid`; training's label crops:
``training/label_crops.py``.
"""

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..errors import InputError

AIR_HU = -1000.0


def side_direction(side):
    """Direction matrix (row-major 9-tuple) of a crop frame: identity (left) or x mirrored (right)."""
    if side not in L.SIDES:
        raise InputError("side must be 'left' or 'right', got %r" % (side,))
    flip = -1.0 if side == L.RIGHT else 1.0
    return (flip, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def oriented_direction(side, rotation=None):
    """Direction (row-major 9-tuple) of a crop frame turned by ``rotation`` (3 x 3, columns: the
    head's lateral-to-left, posterior and superior axes in LPS; None = LPS): rotation @
    :func:`side_direction`."""
    d = np.array(side_direction(side)).reshape(3, 3)
    if rotation is not None:
        d = np.asarray(rotation, float).dot(d)
    return tuple(float(v) for v in d.ravel())


def size_for(extent_mm, spacing_mm):
    """Voxel counts (x, y, z) covering ``extent_mm`` at ``spacing_mm`` (at least 1 each)."""
    return [max(1, int(round(float(e) / float(s)))) for e, s in zip(extent_mm, spacing_mm)]


def crop_centre(joint_centre_lps, side, offset_mm=(0.0, 0.0, 0.0), rotation=None):
    """Physical centre (LPS mm) of a joint's crop: joint centre + offset given in the left-joint
    frame (offset x points laterally: +x for the left joint, -x for the right joint), turned
    by ``rotation`` (:func:`oriented_direction`)."""
    d = np.array(oriented_direction(side, rotation)).reshape(3, 3)
    return np.asarray(joint_centre_lps, float) + d.dot(np.asarray(offset_mm, float))


def crop_reference(centre_lps, side, size_xyz, spacing_mm, rotation=None):
    """An empty SimpleITK image defining the crop grid: ``size_xyz`` voxels of ``spacing_mm``
    centred (voxel-centre midpoint) on ``centre_lps``, direction of :func:`oriented_direction`."""
    size = [int(v) for v in size_xyz]
    spacing = np.asarray(spacing_mm, float)
    direction = np.array(oriented_direction(side, rotation)).reshape(3, 3)
    half = 0.5 * (np.asarray(size) - 1) * spacing
    origin = np.asarray(centre_lps, float) - direction.dot(half)
    ref = sitk.Image(size, sitk.sitkUInt8)
    ref.SetSpacing(tuple(float(v) for v in spacing))
    ref.SetOrigin(tuple(float(v) for v in origin))
    ref.SetDirection(oriented_direction(side, rotation))
    return ref


def resample_to(image, reference, interpolator=sitk.sitkLinear, default=0.0, transform=None,
                pixel_type=None):
    """``image`` resampled onto ``reference``'s grid; ``transform`` maps reference points to
    ``image`` points (identity by default: a pure re-gridding in physical space)."""
    transform = transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity)
    pixel_type = image.GetPixelID() if pixel_type is None else pixel_type
    return sitk.Resample(image, reference, transform, interpolator, float(default), pixel_type)


def crop_ct(ct, reference, transform=None):
    """CT (float32 HU) on the crop grid, linear interpolation, air outside the scan."""
    return resample_to(ct, reference, sitk.sitkLinear, AIR_HU, transform, sitk.sitkFloat32)


def normalise(hu, intensity):
    """Network input from HU: (clip(hu, lo, hi) - center_hu) / scale_hu (float32)."""
    lo, hi = intensity["clip_hu"]
    return ((np.clip(hu, lo, hi) - intensity["center_hu"]) / intensity["scale_hu"]).astype(np.float32)
