"""Does the image hold the joint, with the context the networks need around it? A side check of
the quality gate (:mod:`.quality`, docs/method.md "Quality gate").

The joint space (2-3 mm, up to ~4) and the fossa roof's cortex (>= 1 mm) must lie inside the
image around the condylar head (JOINT_MARGIN_MM). A segmentation made by the networks needs more:
bone seen beyond the joint. The real head of ../shared cut to end 7 / 9 / 12 mm above its
condylar heads read NV -9.9 / -3.6 / -1.1 % (the fossa roof segmented lower: ROOF_MARGIN_MM);
cut to begin 1-5 mm below the condyles' lower plane (MC = the top 15 mm of the condyle) it read
NV +5 to +12 % on both sides with no caution, 6-8 mm below -1 to -3 %, 10 mm and more below
within 0.7 % (`benchmarks/real_ct_probes.py`, ``fov_top_<mm>`` and ``fov_bottom_<mm>``):
NECK_MARGIN_MM. A given label map was not segmented at the image's edge and keeps
JOINT_MARGIN_MM alone.

Inside the array, a scan's reconstruction circle can cut the joint too: outside it the voxels
hold padding (-3024 or -1024 HU), not anatomy. The condyle never borders air (the joint space,
the disc and the soft tissue lie around it), so a condyle whose outer voxels read air or padding
near more than AIR_EDGE_MAX_MM2 of its surface is cut (:func:`air_edge_reason`): the real head
with a circle cutting its left condyle by 2.7 / 6.7 mm read NV -11 / -22 % with no word.

Lengths in mm, points in LPS mm (+z superior); "above" and "below" along the array axis nearest
to the patient's superior axis, so the same scan reads the same in any array order.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .engine.labelled_region import lps_points, values_at
from .hounsfield import BONE_HU, FLAT_PATCH_PIXELS, flat_patches
from .labels import CONDYLAR_HEAD_MM

JOINT_MARGIN_MM = 5.0       # joint space (2-3 mm, up to ~4 mm) + fossa roof cortex (>= 1 mm)
                            # must lie inside the image around the condylar head
ROOF_MARGIN_MM = 10.0       # ... and above the head's top: the real head cut 7 / 9 / 12 mm
                            # above it read NV -9.9 / -3.6 / -1.1 %: the network, seeing no
                            # bone above the roof, segments it lower (superior space 6.2 -> 5.1)
NECK_MARGIN_MM = 8.0        # ... and below the MC's lower plane: the real head beginning 1-5 mm
                            # below it read NV +5 .. +12 %, 6-8 mm below -1 .. -3 %, 10+ within
                            # 0.7 % (the network, its crop padded with air just under the neck)


AIR_EDGE_HU = -900.0        # a voxel at or below this is air, or padding outside the image
AIR_EDGE_MM = 1.5           # air this close to the condyle: none in anatomy (joint space, disc
                            # and soft tissue around it; the real head: none within 3 mm)
OTHER_TISSUE_SHARE = 0.25    # tissue of other values than the flat one: a synthetic CT of one
                             # tissue value has only its edges' blur there (resampled: 5-10 %)
FLAT_TEXTURE_FRACTION = 0.5  # of the other tissue around the condyle flat: no texture to tell
                             # padding by
AIR_EDGE_MAX_MM2 = 10.0     # more of the condyle's surface than this that near air: cut (a
                            # circle cutting the real head's condyle by 2.7 / 6.7 mm: 86 / 137)


def air_edge_reason(ct, mc, image):
    """Reason when air or padding of ``ct`` (HU, any grid holding the joint) lies within
    AIR_EDGE_MM of more than AIR_EDGE_MAX_MM2 of the condyle's surface (``mc``: (z, y, x)
    boolean on ``image``'s grid): the field of view (a reconstruction circle) cuts the joint;
    else None (also without a CT). The networks stop the condyle short of the padding, so its
    outer voxels alone read it over 4 mm2 only."""
    if ct is None or not np.any(mc):
        return None
    spacing = np.asarray(image.GetSpacing(), float)[::-1]          # z, y, x
    steps = np.ceil(AIR_EDGE_MM / spacing).astype(int)
    box = ndimage.find_objects(np.asarray(mc, np.uint8))[0]
    box = tuple(slice(max(b.start - k - 1, 0), b.stop + k + 1) for b, k in zip(box, steps))
    mc = np.asarray(mc[box], bool)
    near = ndimage.binary_dilation(mc, np.ones(2 * steps + 1, bool)) & ~mc
    kji = np.nonzero(near)
    offset = [b.start for b in box]
    points = lps_points(image, tuple(ix + o for ix, o in zip(kji, offset)))
    air = np.zeros_like(mc)
    padding = ((values_at(sitk.GetArrayViewFromImage(ct), ct, points) <= AIR_EDGE_HU)
               | _flat_at(ct, points))
    air[tuple(ix[padding] for ix in kji)] = True
    surface = ndimage.binary_dilation(mc) & ~mc
    facing = surface & ndimage.binary_dilation(air, np.ones(2 * steps + 1, bool))
    area = float(np.count_nonzero(facing)) * float(np.prod(spacing)) ** (2.0 / 3.0)
    if area <= AIR_EDGE_MAX_MM2:
        return None
    return ("air or padding lies within %.1f mm of the condyle over %.0f mm2 of its surface: "
            "the field of view (the scan's reconstruction circle) cuts the joint"
            % (AIR_EDGE_MM, area))


def _flat_at(ct, points):
    """Which LPS ``points`` lie in padding of ``ct`` written as a value above air and below
    bone (0 HU from a resampler's fill reads as tissue otherwise): flat patches
    (:func:`.hounsfield.flat_patches`) of the most common such flat value, when tissue of other
    values is there (OTHER_TISSUE_SHARE) with texture (under FLAT_TEXTURE_FRACTION of it flat):
    a synthetic image without noise is flat everywhere and tells nothing."""
    direction = np.asarray(ct.GetDirection(), float).reshape(3, 3)
    ijk = (points - np.asarray(ct.GetOrigin(), float)) @ direction / np.asarray(ct.GetSpacing())
    lo = np.maximum(np.floor(ijk.min(axis=0)).astype(int) - FLAT_PATCH_PIXELS, 0)
    hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + FLAT_PATCH_PIXELS + 1,
                    np.asarray(ct.GetSize()))
    none = np.zeros(len(points), bool)
    if np.any(hi <= lo):
        return none
    part = sitk.RegionOfInterest(ct, [int(v) for v in hi - lo], [int(v) for v in lo])
    array = sitk.GetArrayViewFromImage(part)
    tissue = (array > AIR_EDGE_HU) & (array < BONE_HU)
    flat = flat_patches(array) & tissue
    if not flat.any():
        return none
    values, counts = np.unique(array[flat], return_counts=True)
    value = values[np.argmax(counts)]
    padding = flat & (array == value)
    other = tissue & (array != value)     # tissue of other values: noisy, or all flat
    if (np.count_nonzero(other) < OTHER_TISSUE_SHARE * np.count_nonzero(tissue)
            or np.count_nonzero(flat & other) > FLAT_TEXTURE_FRACTION * np.count_nonzero(other)):
        return none
    return values_at(padding.astype(np.uint8), part, points) > 0


def superior_axis(image):
    """(the array axis, x / y / z = 0 / 1 / 2, nearest to the patient's superior axis LPS z;
    whether its index grows superiorly): the same scan reads the same in any array order."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    axis = int(np.argmax(np.abs(direction[2])))
    return axis, bool(direction[2, axis] > 0)


def condylar_head(image, mc):
    """(z, y, x) indices and LPS points of the condylar head: MC voxels within CONDYLAR_HEAD_MM
    of its top (LPS z)."""
    kji = np.nonzero(mc)
    pts = lps_points(image, kji)
    keep = pts[:, 2] >= pts[:, 2].max() - CONDYLAR_HEAD_MM
    return tuple(ix[keep] for ix in kji), pts[keep]


def field_of_view_reason(image, mc, network_margins=True):
    """Reason when the image border cuts the condyle, passes within JOINT_MARGIN_MM of the
    condylar head (fossa and joint space may be cut) or, with ``network_margins`` (a
    segmentation made by the networks, which segment bone at the image's edge otherwise),
    within ROOF_MARGIN_MM above the head's top or NECK_MARGIN_MM below the MC's lower plane,
    else None. ``mc``: (z, y, x) boolean array of the condyle on ``image``'s grid."""
    size = np.asarray(mc.shape)
    kji = np.nonzero(mc)
    lo = np.array([ix.min() for ix in kji])
    hi = np.array([ix.max() for ix in kji])
    if np.any(lo == 0) or np.any(hi == size - 1):
        return "the image border cuts the condyle"
    head, _pts = condylar_head(image, mc)
    spacing = np.asarray(image.GetSpacing(), float)[::-1]      # z, y, x
    grow = np.ceil(JOINT_MARGIN_MM / spacing).astype(int)
    if (np.any(np.array([ix.min() for ix in head]) - grow < 0)
            or np.any(np.array([ix.max() for ix in head]) + grow > size - 1)):
        return ("the field of view ends within %.0f mm of the condylar head: fossa and joint "
                "space may be cut" % JOINT_MARGIN_MM)
    if not network_margins:
        return None
    axis, upward = superior_axis(image)
    k = 2 - axis                                       # as a (z, y, x) index
    up, down = [int(np.ceil(m / spacing[k])) for m in (ROOF_MARGIN_MM, NECK_MARGIN_MM)]
    top, bottom = (head[k].max(), lo[k]) if upward else (head[k].min(), hi[k])
    if (top + up > size[k] - 1) if upward else (top - up < 0):
        return ("the field of view ends within %.0f mm above the condylar head: the fossa roof "
                "lies at the image's edge" % ROOF_MARGIN_MM)
    if (bottom - down < 0) if upward else (bottom + down > size[k] - 1):
        return ("the field of view begins within %.0f mm below the condyle's lower plane: the "
                "condylar neck lies at the image's edge" % NECK_MARGIN_MM)
    return None
