"""The quality gate's checks on the segmented bones of one side (:func:`.check_side` calls them):
a temporal bone over the condyle, solid bone rather than a layer or shell, no wide bone-on-bone
contact, an adult condyle volume; and a caution for a condyle label that was not one solid
piece. Each returns one line, or None. Arrays are boolean
(z, y, x) on ``image``'s grid; lengths mm, areas mm^2, volumes mm^3, points LPS mm.
"""

import numpy as np

from ..engine.bone_pieces import MIN_PIECE_FRACTION
from ..engine.labelled_region import lps_points
from ..field_of_view import condylar_head

ROOF_HEIGHT_MM = 10.0       # TB must lie within this above the condyle top (= the default ray
                            # length; the fossa roof is 2-3 mm up, the eminence ~7 mm)
ROOF_RADIUS_MM = 10.0       # ... and within this horizontally (half a 15-20 mm condyle)
CONTACT_AREA_MAX_MM2 = 25.0  # bone-on-bone contact (touching voxels, no joint space between)
                            # over more than a 5 x 5 mm patch, ~10-15 % of the 150-250 mm2
                            # articular surface of the head: healthy joints have a disc there
CONTACT_MIN_SPACE_MM = 0.5  # ... together with a minimum joint space at most this (disc >= 1 mm)
MAX_MIN_SPACE_MM = 6.0      # the narrowest joint space: 1-4 mm in adults (Ikeda & Kawamura:
                            # superior 2.5, anterior 1.3, posterior 2.1 mm; the real head 1.32 /
                            # 1.15, the dental map 0.26 / 0.55, phantoms <= 3.5); farther, the
                            # "temporal bone" is other bone (the real head's left joint blanked:
                            # 8.9 mm, a mean of 9.7 mm, NV 478 mm3)
TB_MIN_THICK = 0.5          # of the TB voxels around the condyle, the fraction an opening by a
                            # 2 x 2 x 2 voxel cube keeps (at least two voxels thick). Solid bone
                            # 0.95-1.0 (phantoms at 0.6 x 0.6 x 2 mm, the real head's and the
                            # dental map's labels); only the faces towards the joint kept, as a
                            # one-voxel layer 0.00-0.02 (NV -6 .. -91 %: rays slip through), a
                            # two-voxel layer 0.36-0.63 (NV -6 .. -12 %), a hollow shell 0.01-0.17
                            # (an unfilled mesh; NV -46 % .. right): not a bone segmentation
CONDYLE_MIN_MM3 = 400.0     # MC = condyle above the plane 15 mm below its top: a small adult
                            # head (12 x 6 mm, tapering) gives ~500 mm3; less is a fragment
HOLLOW_FRACTION = 0.1       # unlabelled voxels inside, of the filled condyle's volume: a
                            # label of the cortex alone (marrow left out); the network's are
                            # filled before measuring (inference/postprocess.py)
CONDYLE_MAX_MM3 = 3000.0    # a 25 x 12 mm elliptic cylinder 15 mm tall is 3530 mm3 and the
                            # condyle tapers; measured: real head 1840-1910, phantoms 1150-1250


def roof_reason(image, mc, tb):
    """Reason when no temporal-bone voxel lies above the condyle top (0 < dz <= ROOF_HEIGHT_MM,
    horizontally within ROOF_RADIUS_MM of the top), else None."""
    if not tb.any():
        return "no temporal bone segmented on this side"
    _head_kji, pts = condylar_head(image, mc)
    top = pts[pts[:, 2] >= pts[:, 2].max() - 1.0].mean(axis=0)
    bone = lps_points(image, np.nonzero(tb))
    dz = bone[:, 2] - top[2]
    near = np.hypot(bone[:, 0] - top[0], bone[:, 1] - top[1]) <= ROOF_RADIUS_MM
    if not np.any(near & (dz > 0) & (dz <= ROOF_HEIGHT_MM)):
        return ("no temporal bone above the condyle (none within %.0f mm over its top): not a "
                "condyle in its fossa" % ROOF_HEIGHT_MM)
    return None


def solid_bone_reason(image, tb):
    """Reason when the temporal bone ``tb`` (boolean, around the condyle) is a thin layer or a
    hollow shell, not solid bone: an opening by two voxels along each axis finer than 1 mm (the
    voxels of such axes are under 1 mm: two of them are thinner than the fossa roof's 1-2 mm)
    keeps less than TB_MIN_THICK of its voxels; else None (also on grids of 1 mm or coarser,
    where one voxel may be all the bone there is)."""
    from scipy import ndimage

    count = int(np.count_nonzero(tb))
    size = tuple(2 if s < 1.0 else 1 for s in reversed(image.GetSpacing()))   # (z, y, x)
    if count == 0 or size == (1, 1, 1):
        return None
    thick = np.count_nonzero(ndimage.binary_opening(tb, structure=np.ones(size, bool)))
    if thick < TB_MIN_THICK * count:
        return ("the temporal bone is a thin layer or a hollow shell (%.0f %% of it at least "
                "two voxels thick; solid bone 95-100 %%): not a bone segmentation to measure"
                % (100.0 * thick / count))
    return None


def contact_area_mm2(image, mc, tb):
    """Area (mm^2) of the voxel faces where condyle and temporal-bone voxels touch."""
    sx, sy, sz = (float(s) for s in image.GetSpacing())
    area = 0.0
    for axis, face in ((0, sx * sy), (1, sx * sz), (2, sy * sz)):   # array axes z, y, x
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        area += face * (np.count_nonzero(mc[a] & tb[b]) + np.count_nonzero(tb[a] & mc[b]))
    return area


def contact_reason(image, mc, tb, joint_space_min_mm):
    """Reason when the bones touch over more than CONTACT_AREA_MAX_MM2 and the minimum joint
    space is at most CONTACT_MIN_SPACE_MM (no joint space resolved), else None."""
    area = contact_area_mm2(image, mc, tb)
    near_zero = joint_space_min_mm is None or joint_space_min_mm <= CONTACT_MIN_SPACE_MM
    if area > CONTACT_AREA_MAX_MM2 and near_zero:
        return ("condyle and temporal bone touch over %.0f mm2 (limit %.0f mm2) with a minimum "
                "joint space of %s mm: no joint space resolved"
                % (area, CONTACT_AREA_MAX_MM2,
                   "0" if joint_space_min_mm is None else "%.2g" % joint_space_min_mm))
    return None


def space_reason(joint_space_min_mm):
    """Reason when the narrowest joint space exceeds MAX_MIN_SPACE_MM (the bone the rays met is
    not this joint's fossa), else None."""
    if joint_space_min_mm is None or joint_space_min_mm <= MAX_MIN_SPACE_MM:
        return None
    return ("the temporal bone lies at least %.1f mm from the condyle everywhere (a joint's "
            "narrowest space is 1-4 mm; limit %.0f mm): not this joint's fossa"
            % (joint_space_min_mm, MAX_MIN_SPACE_MM))


def condyle_volume_reason(volume_mm3):
    """Reason when the condyle volume is outside CONDYLE_MIN_MM3..CONDYLE_MAX_MM3, else None."""
    if volume_mm3 is None or CONDYLE_MIN_MM3 <= volume_mm3 <= CONDYLE_MAX_MM3:
        return None
    return ("condyle volume %.0f mm3 outside the adult range %.0f-%.0f mm3 for the condyle 15 mm "
            "down from its top" % (volume_mm3, CONDYLE_MIN_MM3, CONDYLE_MAX_MM3))


def condyle_pieces_caution(values):
    """Caution when the condyle label was more than the solid measured (:mod:`..engine.
    bone_pieces`): other pieces left out (over ``MIN_PIECE_FRACTION`` of the measured volume) or
    unlabelled cavities and holes counted (over ``HOLLOW_FRACTION``); else None. ``values``: a
    side's report values."""
    volume = values.get("condyle_volume_mm3") or 0.0
    left_out = values.get("condyle_left_out_mm3") or 0.0
    filled = values.get("condyle_filled_mm3") or 0.0
    parts = []
    if volume > 0 and left_out > MIN_PIECE_FRACTION * volume:
        parts.append("%.0f mm3 of it in other pieces is left out (the piece in the fossa, with "
                     "any piece a crack away, is measured as the condyle)" % left_out)
    if volume > 0 and filled > HOLLOW_FRACTION * volume:
        parts.append("%.0f mm3 inside it is unlabelled and counted as condyle (a hollow "
                     "label)" % filled)
    if not parts:
        return None
    return "the condyle label is not one solid piece: " + "; ".join(parts)
