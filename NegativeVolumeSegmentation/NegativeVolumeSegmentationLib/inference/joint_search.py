"""Which box around each joint to segment: localiser candidates checked by the segmentation network.

Each localiser candidate of a side is segmented and the crop that looks most like a TMJ is kept
(:func:`joint_evidence`); the other side's mirror image across the head's midline is tried too,
and a side the localiser missed is searched around it. Points are LPS mm (+x = patient's left).
"""

import numpy as np

from .. import labels as L
from ..engine.joint_bounds import SCANNER_X, joint_frame, joints_axis
from . import localize, segment
from .pair_check import MIN_LATERAL_MM

MAX_VERIFIED = 5            # localiser candidates segmented per side, best evidence kept
REFINE_SHIFT_MM = 3.0        # re-crop when the segmented condyle centre moved further than this
REFINE_STEPS = 4             # a candidate is re-cropped on its segmented condyle this many times
# A box found by the search around a missing joint's expected place ranks by its evidence times
# exp(-d^2 / 2 s^2), d its condyle's distance from that place: the mastoid or the occipital
# condyle 30 mm away can hold more temporal bone than the joint (real head, 0.7 mm resampling)
RESCUE_SIGMA_MM = 20.0
TYPICAL_JOINT_DISTANCE_MM = 100.0  # condyle to condyle (adults ~90-110 mm)
MIRROR_SEARCH_MM = 24.0      # a missing joint is searched on a 3 x 3 grid of this step (y, z)
MIN_RESCUE_EVIDENCE = 0.25   # a joint found by the search needs this x the other's evidence
# ... and a condyle (segmented in its box) within this factor of the other side's: condyles are
# near mirror images (normal left/right volume difference 2-4 %), other bone in a misplaced box
# is not (1.9-2.8 x on phantom seed 100034, where it out-scored the joint on evidence alone)
MAX_RESCUE_CONDYLE_RATIO = 1.5
# The last crops turn with the head: its lateral axis runs from the right condyle to the left
# one (yaw and roll of the head; the pitch stays the scan's). Trusted only for a plausible pair
# (pair_check's 75-130 mm apart) turned by at most this much from LPS.
ALIGN_MAX_DEG = 30.0
ALIGN_PAIR_MM = (75.0, 130.0)
# An adult condyle with the ~16 mm of neck inside the segmentation box holds ~1000-2500 mm3
# (phantoms 855-1604, the real head CT ~2300); a "condyle" of more than this is the ramus or
# other bone caught by a misplaced crop (seen when searching for a missed joint).
MAX_CONDYLE_IN_CROP_MM3 = 4000.0
LONE_MEDIAL_MM = 15.0        # a lone joint's alternatives lie at most this medial of it


def _condyle_centre(joint, ct):
    """LPS centroid of the voxels where MC is the most probable class, or None."""
    mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
    kji = np.nonzero((mc > 0.5) & (mc >= tb))
    if len(kji[0]) == 0:
        return None
    i0 = joint.box[0]
    index = np.array([kji[2].mean(), kji[1].mean(), kji[0].mean()]) + i0
    return np.asarray(ct.TransformContinuousIndexToPhysicalPoint([float(v) for v in index]))


def _condyle_in_box(joint):
    """Voxels where the condyle is the most probable class (boolean, the joint's box)."""
    mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
    return (mc > 0.5) & (mc >= tb)


def condyle_in_box_mm3(joint, ct):
    """Volume (mm³) of the segmented condyle in the joint's box, before any cleaning."""
    return float(_condyle_in_box(joint).sum()) * float(np.prod(ct.GetSpacing()))


def joint_evidence(joint, ct):
    """How much a segmented crop looks like a TMJ: a confident condyle under temporal bone.

    Mean condyle probability over the voxels where the condyle wins, times the temporal-bone
    volume (mm³) segmented in the crop (on the CT grid ``ct``). Bone that the coarse localiser
    may take for a joint (the coronoid process, the styloid, the zygomatic root) gives a weaker
    condyle and little or no fossa around it; a crop whose "condyle" exceeds
    MAX_CONDYLE_IN_CROP_MM3 caught the ramus or other bone and scores 0.
    """
    mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
    condyle = _condyle_in_box(joint)
    voxel_mm3 = float(np.prod(ct.GetSpacing()))
    if not condyle.any() or condyle.sum() * voxel_mm3 > MAX_CONDYLE_IN_CROP_MM3:
        return 0.0
    fossa = (tb > 0.5) & (tb > mc)
    return float(mc[condyle].mean()) * float(fossa.sum()) * voxel_mm3


def lateral_enough(point, side, midline_x):
    """False when ``point`` (a segmented condyle centre, LPS mm) lies less than MIN_LATERAL_MM
    lateral of the head's midline x = ``midline_x`` on ``side`` (or across it): midline bone
    (clivus, dens, petrous apex) segmented like a condyle under temporal bone, which can
    out-score the true joint on evidence. True when the midline or the point is unknown."""
    if midline_x is None or point is None:
        return True
    return (point[0] - midline_x) * (1.0 if side == L.LEFT else -1.0) >= MIN_LATERAL_MM


def side_alternatives(side, joints_lps, candidates):
    """Localiser candidates that may be the ``side`` joint, best score first, the chosen one
    first; at most MAX_VERIFIED per side, none closer than 5 mm to one already listed."""
    chosen = np.asarray(joints_lps[side], float)
    other = joints_lps.get(L.other_side(side))
    if other is not None:
        # a joint lies on the chosen one's side, at least 0.4 x the smallest joint distance
        # lateral of the pair's midpoint (nothing near the midline: dens, clivus, vomer)
        mid = 0.5 * (chosen[0] + other[0])
        lateral = 0.4 * localize.MIN_JOINT_DISTANCE_MM
        same_side = lambda p: (p[0] - mid) * np.sign(chosen[0] - mid) >= lateral
    else:
        # one joint: within 40 mm (the coronoid process lies ~25 mm anterior of the condyle),
        # but no more than LONE_MEDIAL_MM medial of the localiser's point: with no other joint
        # nothing tells medial bone from a joint, and on half a head the skull base 30-35 mm
        # medial out-scored the joint on evidence (10060 against 9130; that side then read "not
        # measurable: the image border cuts the condyle")
        medial = -1.0 if side == L.LEFT else 1.0   # LPS: +x is the patient's left
        same_side = lambda p: (np.linalg.norm(p - chosen) <= 40.0
                               and (p[0] - chosen[0]) * medial <= LONE_MEDIAL_MM)
    points = [chosen]
    for c in sorted(candidates, key=lambda c: -c.score):
        if len(points) >= MAX_VERIFIED:
            break
        if same_side(c.point) and min(np.linalg.norm(c.point - q) for q in points) > 5.0:
            points.append(np.asarray(c.point, float))
    return points


def mirror_point(point, other_side, midline_x):
    """Where the ``other_side`` joint is expected from a joint at ``point`` (LPS mm): its mirror
    image across the head's midsagittal plane x = ``midline_x``, or, when the midline is not in
    the field of view, TYPICAL_JOINT_DISTANCE_MM along the patient's left-right axis (larger LPS
    x = left)."""
    p = np.asarray(point, float).copy()
    if midline_x is not None:
        p[0] = 2.0 * midline_x - p[0]
    else:
        p[0] += TYPICAL_JOINT_DISTANCE_MM * (1.0 if other_side == L.LEFT else -1.0)
    return p


def search_points(centre, step=MIRROR_SEARCH_MM):
    """``centre`` and its 8 neighbours on a y-z grid of ``step`` mm: a head turned or tilted by
    up to ~25 degrees moves the other joint that far from the mirror image (LPS mm)."""
    offsets = [(0.0, 0.0)] + [(dy, dz) for dy in (-step, 0.0, step) for dz in (-step, 0.0, step)
                              if (dy, dz) != (0.0, 0.0)]
    return [np.asarray(centre, float) + np.array([0.0, dy, dz]) for dy, dz in offsets]


class _Best(object):
    """The best-scoring segmentation of one side so far."""

    def __init__(self, side=None, midline_x=None):
        self.joint, self.centre, self.evidence, self.rank = None, None, -1.0, -1.0
        self.side, self.midline_x = side, midline_x

    def offer(self, joint, centre, ct, expected=None):
        """Keep ``joint`` if it beats the best so far; with ``expected`` (LPS mm) its evidence
        is weighted by its condyle's distance from there (RESCUE_SIGMA_MM) for the ranking."""
        if joint is None:
            return
        condyle = _condyle_centre(joint, ct)
        if self.side is not None and not lateral_enough(condyle, self.side, self.midline_x):
            return
        evidence = joint_evidence(joint, ct)
        rank = evidence
        if expected is not None and condyle is not None:
            d = float(np.linalg.norm(condyle - np.asarray(expected, float)))
            rank = evidence * float(np.exp(-0.5 * (d / RESCUE_SIGMA_MM) ** 2))
        if rank > self.rank:  # a localiser's joint is kept even with no evidence
            self.joint, self.centre, self.evidence = joint, np.asarray(centre, float), evidence
            self.rank = rank


def segment_joints(ct, located, models, choice, warnings, reflection=None):
    """{side: JointSegmentation or None}. ``reflection``: the head's mirror symmetry
    (:func:`.symmetry.head_reflection` of ``ct``), or None when the scan holds no symmetric head.

    Each localiser candidate of a side is segmented, re-cropped on its segmented condyle while
    that moves (REFINE_STEPS), and the box that looks most like a joint (:func:`joint_evidence`)
    is kept; a box whose condyle lies < MIN_LATERAL_MM lateral of the head's midline is never
    kept (:func:`lateral_enough`). Then, when the head's midline is in the field of view, each
    side is also segmented at the mirror image of the other side's condyle (:func:`mirror_point`),
    which corrects a localiser that fired on other bone (the coronoid process lies ~25 mm
    anterior of the condyle); that box must hold a condyle of about the other side's size. A
    side the localiser missed is searched around the other condyle's mirror image across the
    head's own symmetry (:func:`.symmetry.head_reflection`, for a head turned in the scanner;
    across the midline plane when no symmetry is found; :func:`search_points`, ranked by evidence
    weighted by the distance from it, RESCUE_SIGMA_MM): a box counts only when its condyle is
    within MAX_RESCUE_CONDYLE_RATIO of the other side's in size, and the best is accepted only
    when its evidence reaches MIN_RESCUE_EVIDENCE x the other side's, so a scan holding one joint
    keeps the other side None. The winner is re-cropped once on its segmented condyle centre
    when that lies more than REFINE_SHIFT_MM away. Last, when both joints were found, each is
    segmented once more in a crop turned with the head (:func:`head_rotation`: yaw and roll from
    the right-to-left condyle axis, or from the head's own axis when that axis leans from it),
    so a turned head gives the network the view of an upright one.
    """
    net, meta = models.segmentation

    def segment_at(centre, side):
        return segment.segment_joint(ct, centre, side, net, meta, choice.device, choice.half)

    def converge(centre, side):
        """[(joint, centre)]: segmented at ``centre``, then re-cropped on the segmented condyle
        centre while it moves > REFINE_SHIFT_MM (at most REFINE_STEPS times): a box on the
        coronoid process or the fossa's rim slides onto the condyle next to it."""
        out = []
        for _ in range(REFINE_STEPS + 1):
            joint = segment_at(centre, side)
            out.append((joint, centre))
            moved = None if joint is None else _condyle_centre(joint, ct)
            if moved is None or np.linalg.norm(moved - centre) <= REFINE_SHIFT_MM:
                break
            centre = moved
        return out

    midline = located.midline_x
    best = {}
    for side in L.SIDES:
        best[side] = _Best(side, midline)
        if located.joints.get(side) is not None:
            for start in side_alternatives(side, located.joints, located.candidates):
                for joint, centre in converge(start, side):
                    best[side].offer(joint, centre, ct)
    found = dict((side, best[side].joint is not None) for side in L.SIDES)
    for side in L.SIDES:
        other = L.other_side(side)
        if not found[other]:
            continue
        anchor = _condyle_centre(best[other].joint, ct)
        if anchor is None:
            anchor = best[other].centre
        expected = mirror_point(anchor, side, located.midline_x)
        size = condyle_in_box_mm3(best[other].joint, ct)

        def alike(joint):  # a condyle of about the other side's size
            return joint is not None and size > 0 and (
                1.0 / MAX_RESCUE_CONDYLE_RATIO <= condyle_in_box_mm3(joint, ct) / size
                <= MAX_RESCUE_CONDYLE_RATIO)

        if found[side]:
            if located.midline_x is not None:  # a true mirror image only
                joint = segment_at(expected, side)
                if alike(joint):
                    best[side].offer(joint, expected, ct)
            continue
        if located.midline_x is not None and reflection is not None:   # the whole head: a
            expected = reflection(anchor)  # head turned in the scanner moves the other joint
            #                                far from the midline plane's mirror image
        rescue = _Best(side, midline)
        for centre in search_points(expected):
            joint = segment_at(centre, side)
            if alike(joint):
                rescue.offer(joint, centre, ct, expected)
        if rescue.joint is not None and rescue.evidence > 0 and (
                rescue.evidence >= MIN_RESCUE_EVIDENCE * best[other].evidence):
            best[side] = rescue
            warnings[:] = [w for w in warnings if not w.startswith("only one joint found")]
            warnings.append("%s joint: missed by the localiser, found by searching around the "
                            "mirror image of the %s joint" % (side, other))
    out = {}
    for side in L.SIDES:
        joint = best[side].joint
        if joint is not None:
            moved = _condyle_centre(joint, ct)
            if moved is not None and np.linalg.norm(moved - best[side].centre) > REFINE_SHIFT_MM:
                joint = segment_at(moved, side)
            if joint is None:
                warnings.append("%s joint: its crop lies outside the image" % side)
        elif located.joints.get(side) is not None:
            warnings.append("%s joint: its crop lies outside the image" % side)
        out[side] = joint
    return _aligned(out, ct, net, meta, choice, None if reflection is None else reflection.normal)


def head_rotation(left_centre, right_centre, head_lateral=None):
    """3 x 3 LPS rotation whose columns are the head's axes (lateral-to-left, posterior,
    superior) from the two condyle centres (LPS mm) and the head's own left-right axis, if
    known (:func:`.engine.joint_bounds.joints_axis`), or None when the condyles do not make a
    plausible pair or the axis turns the head by more than ALIGN_MAX_DEG."""
    distance = float(np.linalg.norm(np.subtract(left_centre, right_centre)))
    if not ALIGN_PAIR_MM[0] <= distance <= ALIGN_PAIR_MM[1]:
        return None
    lateral, source = joints_axis(left_centre, right_centre, head_lateral)
    turn = np.degrees(np.arccos(np.clip(lateral[0], -1.0, 1.0)))
    if source == SCANNER_X or turn > ALIGN_MAX_DEG:
        return None
    return joint_frame(lateral).T


def _aligned(joints, ct, net, meta, choice, head_lateral):
    """Both joints segmented once more with crops turned along the head (:func:`head_rotation`)
    at their segmented condyle centres; a side keeps its LPS crop when that fails."""
    centres = dict((side, None if joints.get(side) is None else _condyle_centre(joints[side], ct))
                   for side in L.SIDES)
    if centres[L.LEFT] is None or centres[L.RIGHT] is None:
        return joints
    rotation = head_rotation(centres[L.LEFT], centres[L.RIGHT], head_lateral)
    if rotation is None:
        return joints
    out = dict(joints)
    for side in L.SIDES:
        turned = segment.segment_joint(ct, centres[side], side, net, meta, choice.device,
                                       choice.half, rotation)
        if turned is not None and _condyle_centre(turned, ct) is not None:
            out[side] = turned
    return out
