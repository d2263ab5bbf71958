"""Condyle (MC) and temporal-bone (TB) segmentation in a crop around each joint.

Crop geometry is defined once, in :mod:`.crops` (imported as ``joint_crops``; training and
inference share it): a box of ``crop_size_mm`` around the condyle centre plus
``crop_offset_mm`` (given in the left-joint frame), voxels of the model's ``target_spacing_mm``, axes along LPS; direction identity
for the patient's left joint and diag(-1, 1, 1) for the right joint, so array index x always runs
laterally and a right joint's crop is the mirror image of a left one (one network serves both).
The mirroring lives in the crop's direction matrix, so every voxel keeps its true physical
position and mapping back needs no flip. CT values (HU) are resampled linearly (air outside the
scan) and normalised as the checkpoint's ``intensity`` says (:func:`.crops.normalise`).

Probabilities are mapped back onto the ORIGINAL CT grid by resampling each class probability
image (linear) at the CT voxel centres inside the crop's bounding box; the label is the argmax.
"""

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..errors import ModelError
from ..engine.measurement_grid import corner_indices
from .inferers import predict_probabilities
from . import crops as joint_crops
from .crops import normalise
from .fine_masks import CropProbabilities

AIR_HU = joint_crops.AIR_HU
STRUCTURES = ("condyle", "temporal_bone")
WINDOW_OVERLAP = 0.25   # sliding-window overlap (Gaussian blended) for crops too big for one pass
resample_to = joint_crops.resample_to


def joint_crop_reference(centre_lps, side, spacing_mm, crop_size_mm, rotation=None):
    """Empty image defining a joint's crop grid centred on ``centre_lps`` (LPS mm): voxel counts
    (x, y, z) = round(crop_size_mm / spacing_mm), direction of
    :func:`joint_crops.oriented_direction` (``rotation``: the head's axes, None = LPS)."""
    size = joint_crops.size_for(crop_size_mm, spacing_mm)
    return joint_crops.crop_reference(centre_lps, side, size, spacing_mm, rotation)


def joint_crop_ct(ct, centre_lps, side, spacing_mm, crop_size_mm, rotation=None):
    """The CT (float32 HU) resampled onto a joint's crop grid (linear; air outside the CT)."""
    return joint_crops.crop_ct(ct, joint_crop_reference(centre_lps, side, spacing_mm,
                                                        crop_size_mm, rotation))


def ct_box_of(reference, ct, margin_voxels=1):
    """Index box [i0, i1) (x, y, z) of the CT voxels inside the crop ``reference``'s extent
    (corners transformed to CT continuous indices), clipped to the CT; None if they miss."""
    corners = corner_indices(reference, ct)
    i0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - margin_voxels, 0)
    i1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1 + margin_voxels,
                    np.asarray(ct.GetSize()))
    if np.any(i1 <= i0):
        return None
    return i0, i1


def box_reference(ct, box):
    """Empty float32 image on the CT grid restricted to index box ``box`` = (i0, i1)."""
    i0, i1 = box
    image = sitk.Image([int(v) for v in i1 - i0], sitk.sitkFloat32)
    image.SetSpacing(ct.GetSpacing())
    image.SetDirection(ct.GetDirection())
    image.SetOrigin(ct.TransformIndexToPhysicalPoint([int(v) for v in i0]))
    return image


def probabilities_to_ct(probabilities, crop_reference_image, ct, background_first=True):
    """Map class probabilities (C, z, y, x) on a crop grid onto the CT grid.

    Returns (box, probs) with box = (i0, i1) the CT index box (x, y, z) and probs (C, z, y, x)
    float32 on those CT voxels (outside the crop: 1 for the background, channel 0 when
    ``background_first``, else 0); (None, None) when the crop misses the CT. One channel is
    resampled at a time into the output (memory: the output plus one channel).
    """
    box = ct_box_of(crop_reference_image, ct)
    if box is None:
        return None, None
    target = box_reference(ct, box)
    out = np.empty((probabilities.shape[0],) + tuple(int(v) for v in (box[1] - box[0])[::-1]),
                   np.float32)
    for c in range(probabilities.shape[0]):
        image = sitk.GetImageFromArray(np.ascontiguousarray(probabilities[c], dtype=np.float32))
        image.CopyInformation(crop_reference_image)
        default = 1.0 if (c == 0 and background_first) else 0.0
        resampled = resample_to(image, target, sitk.sitkLinear, default)
        out[c] = sitk.GetArrayViewFromImage(resampled)   # copied while the image lives
        del resampled
    return box, out


class JointSegmentation(object):
    """One joint's result on the CT grid: ``side``, ``centre_lps``, ``box`` = (i0, i1) CT index
    box (x, y, z), ``probabilities`` {"condyle", "temporal_bone": (z, y, x) float32 on the box}
    (None once the pipeline has made the labels from them); ``crop``: the same probabilities on
    the network's crop grid (:class:`.fine_masks.CropProbabilities`, 6 MB), from which the
    engine builds the surfaces on CT grids coarser than its fine grid."""

    def __init__(self, side, centre_lps, box, probabilities, crop=None):
        self.side = side
        self.centre_lps = centre_lps
        self.box = box
        self.probabilities = probabilities
        self.crop = crop

    def slices(self):
        """numpy (z, y, x) slices of the box in a CT array."""
        i0, i1 = self.box
        return (slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))


def structure_channels(label_names):
    """{structure: output channel} from a checkpoint's label names (background = channel 0)."""
    channels = {}
    for index, name in enumerate(label_names):
        lower = str(name).lower()
        if "condyle" in lower:
            channels["condyle"] = index
        elif "temporal" in lower:
            channels["temporal_bone"] = index
    missing = [s for s in STRUCTURES if s not in channels]
    if missing:
        raise ModelError("the segmentation model's outputs (%s) lack %s: it cannot segment a joint "
                         "for measuring (train it with both structures)"
                         % (", ".join(label_names), ", ".join(missing)))
    return channels


def crop_settings(metadata):
    """(spacing mm x y z, crop size mm x y z, crop offset mm (left-joint frame), patch size
    z y x or None) from a segmentation checkpoint's metadata (``extra.crop`` of the trainer).
    ModelError when the crop is not recorded: a network sees the joint only in the box it was
    trained on (guessing one, e.g. without the trainer's 4 mm upward offset, moves every crop)."""
    crop = (metadata.get("extra") or {}).get("crop") or {}
    missing = [key for key in ("crop_size_mm", "crop_offset_mm") if key not in crop]
    if missing:
        raise ModelError("the segmentation model does not record its training crop (extra.crop "
                         "lacks %s): retrain it with nvseg train" % ", ".join(missing))
    spacing = [float(v) for v in metadata["target_spacing_mm"]]
    size = [float(v) for v in crop["crop_size_mm"]]
    offset = [float(v) for v in crop["crop_offset_mm"]]
    patch = crop.get("patch_size_xyz")
    patch_zyx = None if not patch else [int(v) for v in patch][::-1]
    return spacing, size, offset, patch_zyx


def segment_joint(ct, centre_lps, side, network, metadata, device="cpu", half=False,
                  rotation=None):
    """Segment MC and TB around one joint whose condyle centre is ``centre_lps`` (LPS mm);
    returns a :class:`JointSegmentation` or None when the crop misses the CT. ``rotation``:
    the head's axes (3 x 3, columns lateral-to-left, posterior, superior in LPS): the crop is
    turned with the head, so the network sees the joint as in a head in the standard position
    (None: crops along LPS)."""
    spacing, crop_mm, offset, patch = crop_settings(metadata)
    channels = structure_channels(metadata["label_names"])
    crop = joint_crop_ct(ct, joint_crops.crop_centre(centre_lps, side, offset, rotation), side,
                         spacing, crop_mm, rotation)
    volume = normalise(sitk.GetArrayViewFromImage(crop), metadata.get("intensity"))
    probs = predict_probabilities(network, volume, patch, WINDOW_OVERLAP, device=device, half=half)
    # MC and TB only: the background is 1 - MC - TB where the labels are made (label_array)
    keep = [channels["condyle"], channels["temporal_bone"]]
    box, on_ct = probabilities_to_ct(probs[keep], crop, ct, background_first=False)
    if box is None:
        return None
    geometry = sitk.Image(crop.GetSize(), sitk.sitkUInt8)
    geometry.CopyInformation(crop)
    on_crop = CropProbabilities(geometry, *[np.array(probs[c], np.float32) for c in keep])
    return JointSegmentation(side, [float(v) for v in centre_lps], box,
                             {"condyle": on_ct[0], "temporal_bone": on_ct[1]}, on_crop)


def _intersection(a, b):
    """Index box (x, y, z) shared by boxes ``a`` and ``b``, or None."""
    lo, hi = np.maximum(a[0], b[0]), np.minimum(a[1], b[1])
    return None if np.any(hi <= lo) else (lo, hi)


def _box_slices(box, within=None):
    """numpy (z, y, x) slices of ``box``, relative to box ``within`` when given."""
    lo, hi = box
    base = np.zeros(3, int) if within is None else within[0]
    lo, hi = lo - base, hi - base
    return (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))


def label_map(ct, joints):
    """uint8 label image (values 1-4) on the CT grid: :func:`label_array` as an image."""
    image = sitk.GetImageFromArray(label_array(ct, joints))
    image.CopyInformation(ct)
    return image


def label_array(ct, joints):
    """uint8 label array (numpy z, y, x; values 1-4) on the CT grid from {side:
    JointSegmentation or None}: each voxel of a joint box gets the most probable of background /
    MC / TB; where two boxes overlap the more confident joint wins. Memory: one uint8 array of
    the CT's size."""
    array = np.zeros(sitk.GetArrayViewFromImage(ct).shape, dtype=np.uint8)
    present = [joint for joint in joints.values() if joint is not None]
    done = []   # (box, top probability on the box) of the joints already written
    for n, joint in enumerate(present):
        side = joint.side
        mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
        background = np.subtract(1.0, mc, dtype=np.float32)   # in place from here on
        background -= tb
        np.clip(background, 0.0, 1.0, out=background)
        # the argmax of (background, MC, TB), ties to the first, without stacking the three
        is_mc = (mc > background) & (mc >= tb)
        is_tb = (tb > background) & (tb > mc)
        del background
        values = np.zeros(mc.shape, np.uint8)   # is_mc and is_tb are disjoint
        values[is_tb] = L.TEMPORAL_BONE[side]
        values[is_mc] = L.CONDYLE[side]
        later = any(_intersection(joint.box, other.box) is not None for other in present[n + 1:])
        top = None  # the winner's probability, needed only where boxes overlap
        if done or later:
            top = np.zeros(mc.shape, np.float32)
            top[is_tb] = tb[is_tb]
            top[is_mc] = mc[is_mc]
        del is_mc, is_tb
        write = np.ones(values.shape, bool)
        for box, other_top in done:
            shared = _intersection(joint.box, box)
            if shared is not None:
                mine, theirs = _box_slices(shared, joint.box), _box_slices(shared, box)
                write[mine] = top[mine] > other_top[theirs]
        region = array[joint.slices()]
        region[write] = values[write]
        if later:
            done.append((joint.box, top))   # kept only where a later box overlaps this one
    return array
