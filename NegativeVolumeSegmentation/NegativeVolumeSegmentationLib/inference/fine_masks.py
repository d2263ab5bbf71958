"""Condyle and temporal-bone masks on the engine's fine grid from the network's own probabilities.

The segmentation network predicts on its crop grid (0.5 mm, turned with the head), whatever the
CT's grid. The label map is that prediction sampled at the CT's voxel centres: on a 1 mm or a
0.6 x 0.6 x 2 mm CT it keeps one sample per CT voxel, and shapes re-created between them (by
shape-based interpolation, :mod:`..engine.shape_interpolation`) depend on where the CT's samples
fall. The probabilities hold more: resampled (linearly) onto the engine's 0.3 mm measurement grid
(:mod:`..engine.measurement_grid`) and their argmax taken there, they give bones whose surfaces
lie at the network's 0.5 iso-level whatever the CT's grid (docs/method.md, "Measuring on the
network's probabilities": the real head and its 0.5 mm copy 1.0 / 1.1 % apart in NV instead of
5.7 / 3.6 %).

The post-processing on the CT grid (:mod:`.postprocess`: the condyle's lower plane, the temporal
bone's radius, specks) decides what the labels mean, so a fine voxel takes the probabilities'
label only near the cleaned labels: where its nearest CT voxel is labelled or has a labelled
neighbour (26-neighbourhood: within one CT voxel, the farthest the two can disagree where the
labels were not cut). The condyle's lower plane (``CONDYLE_DEPTH_MM`` below its top along LPS z)
is then placed again on the fine grid, from the fine condyle's own top (:func:`.postprocess.
condyle_top`): the CT grid's plane lies a CT voxel's step from the fine one, and the one-voxel
margin let the neck run on below it (the same head's condyle moved by up to 5.5 % between its
variants). The condyle keeps its
largest piece with its marrow filled, as on the CT grid. Outside the crop's extent (bone far
from the joint space: the crop reaches 20-24 mm from the condyle) the labels' nearest voxel is
used; for the temporal bone when the Canny enhancement (``enhance_tb``) added to it on the CT
grid, the shape-based interpolation of the labels.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L
from ..engine import shape_interpolation
from ..engine.bone_pieces import fill_cavities, largest_piece
from .postprocess import CONDYLE_DEPTH_MM, GridPoints, above, condyle_top

OUTSIDE = -1.0   # probability value marking fine voxels outside the crop
NEAR = np.ones((3, 3, 3), bool)   # "near the labels": within one CT voxel (26-neighbourhood)


class CropProbabilities(object):
    """One joint's condyle and temporal-bone probabilities on its crop grid: ``reference`` (a
    SimpleITK image holding the crop's geometry: LPS mm origin, spacing, direction) and
    ``condyle`` / ``temporal_bone`` float32 (z, y, x) arrays on it."""

    def __init__(self, reference, condyle, temporal_bone):
        self.reference = reference
        self.condyle = condyle
        self.temporal_bone = temporal_bone

    def on(self, grid):
        """(condyle, temporal bone) probabilities resampled linearly onto ``grid`` (SimpleITK
        image), :data:`OUTSIDE` where ``grid``'s voxel centres lie outside the crop."""
        out = []
        for values in (self.condyle, self.temporal_bone):
            image = sitk.GetImageFromArray(values)
            image.CopyInformation(self.reference)
            out.append(sitk.GetArrayFromImage(sitk.Resample(
                image, grid, sitk.Transform(), sitk.sitkLinear, OUTSIDE, sitk.sitkFloat32)))
        return out


def _on_grid(roi_image, mask, reference):
    """Boolean ``mask`` (z, y, x) of ``roi_image``'s grid on ``reference``'s: nearest voxel."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(roi_image)
    return sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(),
                                                sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)) > 0


def masks_from_probabilities(crop, roi_image, mc_mask, tb_mask, reference=None, use_tb=True):
    """(reference image, condyle mask, temporal-bone mask): boolean (z, y, x) masks on
    ``reference`` (default: the fine grid over ``roi_image``, a region of the CT grid whose
    cleaned labels are ``mc_mask`` / ``tb_mask``) from :class:`CropProbabilities` ``crop``
    (module doc). ``use_tb`` False: the temporal bone from the labels alone (shape-based
    interpolation)."""
    if reference is None:
        reference = shape_interpolation.fine_grid(roi_image)
    p_mc, p_tb = crop.on(reference)
    inside = p_mc > OUTSIDE / 2.0
    background = 1.0 - p_mc - p_tb
    prob_masks = ((p_mc > background) & (p_mc >= p_tb), (p_tb > background) & (p_tb > p_mc))
    del background, p_mc, p_tb
    out = []
    for mask, prob_mask, use in ((mc_mask, prob_masks[0], True), (tb_mask, prob_masks[1], use_tb)):
        if not use:
            out.append(shape_interpolation.interpolate_mask(roi_image, mask, reference))
            continue
        near = _on_grid(roi_image, ndimage.binary_dilation(mask, NEAR), reference)
        out.append(np.where(inside, prob_mask & near, _on_grid(roi_image, mask, reference)))
    mc = out[0]
    if mc.any():   # the condyle's lower plane again, on this grid: within a fine voxel
        points = GridPoints(reference)
        mc = fill_cavities(largest_piece(above(mc, points, condyle_top(mc, points)
                                                - CONDYLE_DEPTH_MM)))
    return reference, mc, out[1] & ~mc


def fine_mask_source(joints, enhance_tb=False):
    """The engine's ``fine_masks`` callable for {side: JointSegmentation or None}:
    (condyle label value, ROI image, MC mask, TB mask, reference) -> (MC mask, TB mask) on
    ``reference`` (:func:`masks_from_probabilities`), or None for a joint without crop
    probabilities."""
    crops = dict((L.CONDYLE[side], joint.crop) for side, joint in joints.items()
                 if joint is not None and getattr(joint, "crop", None) is not None)

    def source(mc_value, roi_image, mc_mask, tb_mask, reference):
        crop = crops.get(mc_value)
        if crop is None:
            return None
        return masks_from_probabilities(crop, roi_image, mc_mask, tb_mask, reference,
                                        use_tb=not enhance_tb)[1:]

    return source
