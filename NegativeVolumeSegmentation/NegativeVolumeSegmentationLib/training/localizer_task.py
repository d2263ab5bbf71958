"""Coarse joint localiser task: whole head at ~3 mm in, a ball around each condyle centre out.

Input: the CT resampled (Gaussian pre-smoothed) onto an axis-aligned LPS grid (identity direction)
at ``data.target_spacing_mm`` (e.g. 3 mm). Target: one class, the voxels within
``data.ball_radius_mm`` (e.g. 8 mm) of a condyle centre, both joints alike. Which blob is the
patient's left joint is decided afterwards from physical x (LPS +x = left), never from array order:
see :func:`detect_joints`.
"""

import os

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L
from ..inference import crops as joint_crops
from ..inference.crops import normalise
from ..inference.head_grid import aligned_grid, bounding_box, smooth_resample
from ..inference.localize import MIN_CANDIDATE_MM3, PROBABILITY_THRESHOLD
from . import augment, label_crops

SOURCE_SPACING_FACTOR = 0.5  # coarse source copy kept in memory: half the target spacing
REAL_SHAPE_RENDERS = 6       # appearances rendered once per real-anatomy map (data.real_shapes)
HEAD_ENVELOPE_MM = 12.0      # real-anatomy heads: soft tissue this far around the bones, air beyond
RENDER_SPACING_MM = 1.0      # real-anatomy heads are rendered at this spacing (a 3 mm task)


class HeadSource(object):
    """A whole head kept for localiser sampling: coarse CT and ball target on one LPS grid."""

    def __init__(self, name, ct, target, centres):
        self.name, self.ct, self.target, self.centres = name, ct, target, centres


def ball_target(reference, centres, radius_mm):
    """uint8 image on ``reference``: 1 within ``radius_mm`` of any centre (LPS mm), else 0."""
    size = reference.GetSize()
    zyx = np.indices(size[::-1]).reshape(3, -1)[::-1].T.astype(float)  # x, y, z index per voxel
    d = np.array(reference.GetDirection()).reshape(3, 3)
    points = np.asarray(reference.GetOrigin()) + (zyx * np.asarray(reference.GetSpacing())).dot(d.T)
    inside = np.zeros(len(points), bool)
    for centre in centres:
        inside |= np.sum((points - np.asarray(centre, float)) ** 2, axis=1) <= radius_mm ** 2
    image = sitk.GetImageFromArray(inside.reshape(size[::-1]).astype(np.uint8))
    image.CopyInformation(reference)
    return image


def head_source(case, cfg):
    """:class:`HeadSource` of a :class:`data.Case`: its CT and ball target at half the target spacing."""
    spacing = np.asarray(cfg["data"]["target_spacing_mm"]) * SOURCE_SPACING_FACTOR
    reference = aligned_grid(case.ct, spacing)
    centres = [c for c in case.centres.values() if c is not None]
    return HeadSource(case.name, smooth_resample(case.ct, reference),
                      ball_target(reference, centres, cfg["data"]["ball_radius_mm"]), centres)


def real_shape_sources(path, cfg, renders=REAL_SHAPE_RENDERS):
    """:class:`HeadSource` items of the real-anatomy label map at ``path`` (training/real_shapes.py):
    ``renders`` CT-like heads, each rendered with its own random appearance
    (:func:`.synth_ct.render` on the map resampled to RENDER_SPACING_MM, nearest neighbour, then
    smoothed to the source spacing), soft tissue within HEAD_ENVELOPE_MM of any bone and air
    beyond (the map has no skin). Rendered once: the per-sample augmentation varies them further."""
    from . import synth_ct
    from .real_shapes import build_labels

    image = sitk.ReadImage(path)
    name = "real-shapes:%s" % os.path.basename(path)
    labels, _ = build_labels(image)
    centres = [c for c in (label_crops.physical_centroid(labels, L.CONDYLE[side])
                           for side in L.SIDES) if c is not None]
    spacing = np.asarray(cfg["data"]["target_spacing_mm"]) * SOURCE_SPACING_FACTOR
    reference = aligned_grid(image, spacing)
    bone = sitk.GetArrayFromImage(label_crops.crop_classes(
        sitk.Cast(image > 0, sitk.sitkUInt8), reference)) > 0
    head = ndimage.distance_transform_edt(~bone, sampling=spacing[::-1]) <= HEAD_ENVELOPE_MM
    head = ndimage.binary_fill_holes(head)
    target = ball_target(reference, centres, cfg["data"]["ball_radius_mm"])
    fine = aligned_grid(image, [RENDER_SPACING_MM] * 3)
    tissues = sitk.GetArrayFromImage(
        label_crops.crop_classes(sitk.Cast(image, sitk.sitkUInt8), fine))
    out = []
    for k in range(renders):
        # batches draw from [seed, iteration, b]: these renders from iteration "7919", which the
        # fine-tuning runs (600 iterations) never reach; the bundled localiser was made this way
        rng = np.random.default_rng([cfg["train"]["seed"], 7919, k])
        hu = sitk.GetImageFromArray(synth_ct.render(tissues, rng, [RENDER_SPACING_MM] * 3))
        hu.CopyInformation(fine)
        coarse = sitk.GetArrayFromImage(smooth_resample(hu, reference))
        coarse[~head] = -1000.0
        ct = sitk.GetImageFromArray(coarse.astype(np.float32))
        ct.CopyInformation(reference)
        out.append(HeadSource("%s#%d" % (name, k), ct, target, centres))
    return out


def sample(source, rng, cfg):
    """(input float32 z,y,x, target int64 z,y,x) of one augmented localiser patch."""
    data, aug = cfg["data"], cfg["augment"]
    spacing = np.asarray(data["target_spacing_mm"], float)
    lo, hi = bounding_box(source.ct)
    centre = 0.5 * (lo + hi) + rng.uniform(-1, 1, 3) * data["centre_jitter_mm"]
    reference = joint_crops.crop_reference(centre, L.LEFT, data["patch_size"], spacing)
    if rng.uniform() < aug["flip"]:
        reference = augment.flipped_reference(reference)
    transform = augment.random_spatial(rng, reference, centre, aug)
    hu = sitk.GetArrayFromImage(joint_crops.crop_ct(source.ct, reference, transform))
    target = sitk.GetArrayFromImage(label_crops.crop_classes(source.target, reference, transform))
    hu = augment.intensity(hu, rng, aug["intensity"], spacing[::-1])
    return normalise(hu, data["intensity"]), target.astype(np.int64)


def whole_input(ct, cfg):
    """(normalised float32 z,y,x array, reference image) of a whole CT on the localiser's grid."""
    reference = aligned_grid(ct, cfg["data"]["target_spacing_mm"])
    hu = sitk.GetArrayFromImage(smooth_resample(ct, reference))
    return normalise(hu, cfg["data"]["intensity"]), reference


def detect_joints(probability, reference, threshold=PROBABILITY_THRESHOLD,
                  min_volume_mm3=MIN_CANDIDATE_MM3):
    """Joint candidates from a joint-probability array (z, y, x) on ``reference``'s grid.

    Connected components of ``probability > threshold`` (as the pipeline's localiser,
    :mod:`..inference.localize`) with at least ``min_volume_mm3``; the
    two largest are kept. Returns [{"centre_lps_mm", "volume_mm3", "side"}]: with two joints the
    one at larger physical x is the patient's left; a single joint gets side None (the caller
    decides, e.g. from the head's midline).
    """
    mask = np.asarray(probability) > threshold
    components, count = ndimage.label(mask)
    voxel = float(np.prod(reference.GetSpacing()))
    found = []
    for index in range(1, count + 1):
        where = components == index
        volume = float(where.sum()) * voxel
        if volume < min_volume_mm3:
            continue
        weights = np.asarray(probability)[where]
        zyx = np.argwhere(where)
        centre_index = (zyx * weights[:, None]).sum(axis=0) / weights.sum()
        centre = reference.TransformContinuousIndexToPhysicalPoint(
            tuple(float(v) for v in centre_index[::-1]))
        found.append({"centre_lps_mm": [float(v) for v in centre], "volume_mm3": volume, "side": None})
    found = sorted(found, key=lambda f: -f["volume_mm3"])[:2]
    if len(found) == 2:
        found.sort(key=lambda f: -f["centre_lps_mm"][0])
        found[0]["side"], found[1]["side"] = L.LEFT, L.RIGHT
    return found
