"""Do the two joints found form a plausible pair? An anatomical self-check after segmentation.

The localiser and the joint search can settle on other bone (a structure near the midline, the
coronoid process, the other side's joint) and the engine then measures it with confidence. Two
condyles of one head lie well lateral of its midsagittal plane, on opposite sides of it, about
as far from it as each other, 75-130 mm apart (the localiser's own pair limits), and hold
condyles of similar size (normal left/right difference 2-4 %). A side that breaks this is not
measurable with the reason (quality gate, docs/method.md); a number is never given for it. A
side whose own place is wrong (at the midline) fails alone; the two fail as a pair (too close or
far apart, not mirror images, of very different size) when each passes on its own: then either
may be the other bone. When one of them fails its own checks (the gate's, the place's), the
other is measured on its own, as in a scan of one joint, only where the head itself confirms its
place (:func:`stands_alone`; :func:`.quality.gate_measured`): the failing one may be the true
joint (bones touching, metal, the field of view) and the passing one other bone.

Points are LPS mm; ``midline_x`` is the LPS x of the head's midsagittal plane at joint level
(:class:`.localize.Localization`), None when the head's width is cut by the field of view.
Tolerances allow heads turned or tilted by 15 degrees.
"""

import numpy as np

from .. import labels as L
from .localize import MAX_JOINT_DISTANCE_MM, MAX_MIDLINE_OFFSET_MM, MIN_JOINT_DISTANCE_MM

# A condyle's centre lies 40-60 mm lateral of the midsagittal plane (adult intercondylar
# distance 80-120 mm); less than this is midline bone (clivus, dens, vomer, sphenoid).
MIN_LATERAL_MM = 25.0
# Condyle volumes of one head (the MC extent of docs/method.md) differ by 2-4 % normally and by
# ~30 % in marked hyperplasia; a larger factor means one box caught other bone.
MAX_CONDYLE_VOLUME_RATIO = 1.6
# A side measured on its own while its partner fails: its condyle's centre lies 40-60 mm from the
# head's own mid-sagittal plane (inference/symmetry), with 5 mm to spare (the real head: 47 / 54)
ALONE_LATERAL_MM = (35.0, 65.0)


def stands_alone(values, reflection):
    """Whether the head confirms a condyle's place: its mid-sagittal plane (``reflection``,
    :class:`.symmetry.Reflection`, None when the scan holds no symmetric head) is known and the
    condyle's centre (``values``: a side's report values) lies ALONE_LATERAL_MM from it."""
    if reflection is None or values is None:
        return False
    centre = np.asarray(values["condyle_center_lps_mm"], float)
    distance = abs(float(reflection.normal @ centre) - reflection.distance)
    return ALONE_LATERAL_MM[0] <= distance <= ALONE_LATERAL_MM[1]


def pair_reasons(sides, midline_x):
    """({side: [one-line reasons about that side's own place]}, [one-line reasons the two fail
    as a pair]) for the measured ``sides`` ({side: report values or None}); the pair is judged
    only when both sides are there and neither fails on its own place."""
    reasons = dict((side, []) for side in L.SIDES)
    centres = dict((side, np.asarray(values["condyle_center_lps_mm"], float))
                   for side, values in sides.items() if values is not None)
    if midline_x is not None:
        for side, centre in centres.items():
            lateral = (centre[0] - midline_x) * (1.0 if side == L.LEFT else -1.0)
            if lateral < MIN_LATERAL_MM:
                where = ("%.0f mm lateral of" % lateral if lateral >= 0
                         else "%.0f mm across" % -lateral)
                reasons[side].append(
                    "the condyle found lies %s the head's midline (a condyle lies 40-60 mm "
                    "lateral of it): other bone, not this joint" % where)
    if len(centres) < 2 or any(reasons.values()):
        return reasons, []
    left, right = centres[L.LEFT], centres[L.RIGHT]
    pair = []
    distance = float(np.linalg.norm(left - right))
    if not MIN_JOINT_DISTANCE_MM <= distance <= MAX_JOINT_DISTANCE_MM:
        pair.append("the two joints found are %.1f mm apart (%.0f-%.0f mm expected)"
                    % (distance, MIN_JOINT_DISTANCE_MM, MAX_JOINT_DISTANCE_MM))
    if midline_x is not None:
        offset = abs(0.5 * (left[0] + right[0]) - midline_x)
        if offset > MAX_MIDLINE_OFFSET_MM:
            pair.append("the two joints found are not mirror images about the head's midline "
                        "(their midpoint is %.0f mm off it)" % offset)
    volumes = [sides[s]["condyle_volume_mm3"] for s in L.SIDES]
    if min(volumes) > 0 and max(volumes) / min(volumes) > MAX_CONDYLE_VOLUME_RATIO:
        pair.append("the condyles found differ %.1f-fold in volume (%.0f vs %.0f mm3)"
                    % (max(volumes) / min(volumes), volumes[0], volumes[1]))
    return reasons, pair
