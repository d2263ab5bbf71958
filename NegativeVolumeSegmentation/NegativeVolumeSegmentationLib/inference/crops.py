"""Crops around one temporomandibular joint at a target spacing, right joints mirrored onto the left.

The crop frame of a joint is an axis-aligned LPS grid centred on the joint (condyle centre plus an
offset) whose direction matrix is the identity for the patient's LEFT joint and diag(-1, 1, 1) for
the RIGHT joint. Array index x therefore always runs LATERALLY (towards +x for the left joint,
towards -x for the right one): a right joint's crop array is its mirror image across the sagittal
plane and looks like a left joint, so one model serves both sides. The crop image keeps its true
geometry (origin, spacing, direction), so results map back onto any CT grid exactly by
resampling (SimpleITK) -- no array-order guess is ever made.

Label crops hold classes 0 background, 1 mandibular condyle (MC), 2 temporal bone (TB) (or fewer
classes for one-structure models; see :func:`class_values`).
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


def normalise(hu, intensity):
    """Network input from HU: (clip(hu, lo, hi) - center_hu) / scale_hu (float32)."""
    lo, hi = intensity["clip_hu"]
    return ((np.clip(hu, lo, hi) - intensity["center_hu"]) / intensity["scale_hu"]).astype(np.float32)


def bounding_box(image):
    """(lo, hi) LPS mm of the physical box spanned by ``image``'s voxel centres (any direction)."""
    size = np.asarray(image.GetSize())
    corners = [image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in c))
               for c in np.array(np.meshgrid(*[[0, s - 1] for s in size])).reshape(3, -1).T]
    corners = np.array(corners)
    return corners.min(axis=0), corners.max(axis=0)


def aligned_grid(image, spacing_mm, pixel=sitk.sitkFloat32):
    """An identity-direction LPS grid at ``spacing_mm`` covering ``image``'s physical box."""
    lo, hi = bounding_box(image)
    spacing = np.asarray(spacing_mm, float)
    size = np.maximum(np.ceil((hi - lo) / spacing).astype(int) + 1, 1)
    ref = sitk.Image([int(v) for v in size], pixel)
    ref.SetSpacing(tuple(float(v) for v in spacing))
    ref.SetOrigin(tuple(float(v) for v in 0.5 * (lo + hi) - 0.5 * (size - 1) * spacing))
    return ref


def smooth_resample(ct, reference, transform=None):
    """CT (float32 HU) on ``reference``, Gaussian-smoothed to the new spacing first (no aliasing)."""
    ct = sitk.Cast(ct, sitk.sitkFloat32)
    sigma = [0.4 * t if t > 1.5 * s else 0.0 for t, s in zip(reference.GetSpacing(), ct.GetSpacing())]
    if max(sigma) > 0:
        ct = sitk.SmoothingRecursiveGaussian(ct, [max(v, 1e-3) for v in sigma])
    return crop_ct(ct, reference, transform)


def anchored_grid(image, spacing_mm, pixel=sitk.sitkFloat32):
    """An identity-direction LPS grid at ``spacing_mm`` covering ``image``'s physical box, its
    voxel centres at integer multiples of the spacing in LPS (inference only): two scans of one
    head on different voxel grids or fields of view get coarse voxels at the same physical
    points, where :func:`aligned_grid` (centred on the box) shifts them by up to half a voxel."""
    lo, hi = bounding_box(image)
    spacing = np.asarray(spacing_mm, float)
    first = np.floor(lo / spacing + 1e-6)
    last = np.ceil(hi / spacing - 1e-6)
    size = np.maximum(np.round(last - first).astype(int) + 1, 1)
    ref = sitk.Image([int(v) for v in size], pixel)
    ref.SetSpacing(tuple(float(v) for v in spacing))
    ref.SetOrigin(tuple(float(v) for v in first * spacing))
    return ref


def presmooth_sigma(source_spacing_mm, target_spacing_mm):
    """Gaussian sigma (mm, per axis) that, added to a voxel's own extent (a box of its spacing:
    variance s^2 / 12), blurs to sigma 0.4 x the target spacing: the same blur from any source
    spacing (inference only; :func:`smooth_resample` uses 0.4 x target whatever the source)."""
    out = []
    for t, s in zip(target_spacing_mm, source_spacing_mm):
        out.append(float(np.sqrt(max((0.4 * t) ** 2 - s * s / 12.0, 0.0))))
    return out


def smooth_resample_physical(ct, reference, transform=None):
    """CT (float32 HU) on ``reference``, pre-smoothed by :func:`presmooth_sigma` (a blur that
    depends on the target spacing only), then linear interpolation; air outside the scan."""
    ct = sitk.Cast(ct, sitk.sitkFloat32)
    sigma = presmooth_sigma(ct.GetSpacing(), reference.GetSpacing())
    if max(sigma) > 0:
        ct = sitk.SmoothingRecursiveGaussian(ct, [max(v, 1e-3) for v in sigma])
    return crop_ct(ct, reference, transform)


def shrink_for(ct, spacing_mm):
    """``ct`` block-averaged (BinShrink) by integer factors so that its voxels stay at most half
    the localiser spacing: the same physical extent, ~20x fewer voxels to smooth for a 0.5 mm CT
    and a 3 mm localiser. Block averages add far less blur than the localiser's own smoothing."""
    factors = [max(1, int(np.floor(t / (2.0 * s)))) for t, s in zip(spacing_mm, ct.GetSpacing())]
    if max(factors) == 1:
        return ct
    # BinShrink averages in the input's pixel type's accumulator and returns that type (under
    # 1 HU off for an integer CT); no full-size float copy of the CT is made
    return sitk.Cast(sitk.BinShrink(ct, factors), sitk.sitkFloat32)
