"""Finding both temporomandibular joints in a whole CT volume, with anatomy-aware checks.

1. The bundled localiser network runs on the CT resampled to its coarse target spacing (~3 mm)
   on an LPS-aligned grid covering the CT, its voxels at multiples of the spacing in LPS
   (:func:`.head_grid.anchored_grid`, :func:`.head_grid.smooth_resample_physical`: Gaussian
   blur of 0.4 x the target spacing whatever the source spacing, as in training for ~1 mm CTs). Its
   outputs are background plus one "joint" class (or "left joint" / "right joint"): a ball around
   each condyle centre.
2. Candidates: connected regions of joint probability > 0.5, each with its probability-weighted
   centre (LPS mm) and peak probability.
3. Anatomy checks (:func:`choose_joints`, pure geometry): two joints lie 75-130 mm apart, mostly
   along the left-right axis (head pose up to ~25 deg), roughly symmetric about the head's
   midline, and well below the top of the skull. The side of each joint is the patient's side
   from physical x (larger LPS x = left). A single joint is assigned by the head midline when the
   whole head width is in the field of view, otherwise by where the air outside the head lies
   (laterally of a joint); the other side is None with a warning.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L
from .inferers import predict_probabilities
from .crops import normalise
from .head_grid import anchored_grid, shrink_for, smooth_resample_physical

MIN_JOINT_DISTANCE_MM = 75.0
MAX_JOINT_DISTANCE_MM = 130.0
MIN_LATERAL_FRACTION = 0.7      # |dx| / distance of a pair (cos 25 deg * cos 25 deg ~ 0.82)
MAX_MIDLINE_OFFSET_MM = 20.0    # the pair's midpoint vs the head's midline (x)
MIN_BELOW_SKULL_TOP_MM = 60.0   # TMJs sit ~110-130 mm below the vertex
MIN_SINGLE_LATERAL_MM = 25.0    # a lone joint lies at least this far from the midline
HEAD_HU = -400.0                # tissue threshold for the head mask
PROBABILITY_THRESHOLD = 0.5
MIN_CANDIDATE_MM3 = 50.0        # smaller blobs are noise (the training target is an 8 mm ball)
MAX_CANDIDATES = 12             # the strongest ones are kept (pairs are checked exhaustively)
SLAB_MM = 20.0                  # half-height of the axial slab used for the midline


class Candidate(object):
    """A possible joint: ``point`` (LPS mm), ``score`` (peak probability 0-1), ``volume_mm3``,
    ``side_hint`` ("left"/"right" from a side-specific localiser class, else None)."""

    def __init__(self, point, score=1.0, volume_mm3=0.0, side_hint=None):
        self.point = np.asarray(point, dtype=float)
        self.score = float(score)
        self.volume_mm3 = float(volume_mm3)
        self.side_hint = side_hint

    def __repr__(self):
        return "Candidate(%s, score %.2f)" % (np.round(self.point, 1).tolist(), self.score)


class HeadFrame(object):
    """What the CT says about the head: ``midline_x`` (LPS mm of the midsagittal plane at joint
    level, None when the head's width is cut by the field of view), ``top_z`` (LPS z of the skull
    top, None when the skull top is outside the field of view), ``lateral_of`` (function
    point -> +1 / -1 / 0: the x direction in which air outside the head lies, or None)."""

    def __init__(self, midline_x=None, top_z=None, lateral_of=None):
        self.midline_x = midline_x
        self.top_z = top_z
        self.lateral_of = lateral_of


class Localization(object):
    """``joints`` {side: LPS point (3 floats) or None}, ``candidates`` [Candidate],
    ``warnings`` [str], ``midline_x`` (LPS x of the head's midsagittal plane at joint level, None
    when the head's width is cut by the field of view)."""

    def __init__(self, joints, candidates, warnings, midline_x=None):
        self.joints = joints
        self.candidates = candidates
        self.warnings = warnings
        self.midline_x = midline_x


def _below_top(candidate, head):
    return head.top_z is None or candidate.point[2] <= head.top_z - MIN_BELOW_SKULL_TOP_MM


def pair_problems(a, b, head):
    """Reasons (list of str) why candidates ``a`` and ``b`` are not the two TMJs; [] if fine."""
    problems = []
    d = b.point - a.point
    distance = float(np.linalg.norm(d))
    if not MIN_JOINT_DISTANCE_MM <= distance <= MAX_JOINT_DISTANCE_MM:
        problems.append("%.0f mm apart (expected %.0f-%.0f)" % (distance, MIN_JOINT_DISTANCE_MM,
                                                                MAX_JOINT_DISTANCE_MM))
    elif abs(d[0]) < MIN_LATERAL_FRACTION * distance:
        problems.append("not side by side (left-right part %.0f of %.0f mm)" % (abs(d[0]), distance))
    if head.midline_x is not None:
        offset = abs((a.point[0] + b.point[0]) / 2.0 - head.midline_x)
        if offset > MAX_MIDLINE_OFFSET_MM:
            problems.append("midpoint %.0f mm off the head's midline" % offset)
    for c in (a, b):
        if not _below_top(c, head):
            problems.append("%s is too close to the top of the skull" % c)
    return problems


def single_side(candidate, head):
    """Side of a lone joint (or None when it cannot be told): by the head midline when known,
    else by the air lateral to it."""
    if head.midline_x is not None:
        offset = candidate.point[0] - head.midline_x
        if abs(offset) < MIN_SINGLE_LATERAL_MM:
            return None
        return L.LEFT if offset > 0 else L.RIGHT
    if head.lateral_of is not None:
        direction = head.lateral_of(candidate.point)
        if direction:
            return L.LEFT if direction > 0 else L.RIGHT
    return candidate.side_hint


def choose_joints(candidates, head):
    """({side: Candidate or None}, warnings) from joint candidates and the head frame.

    The best-scoring pair passing :func:`pair_problems` of candidates at least
    MIN_SINGLE_LATERAL_MM lateral of the head's midline (when known) wins (left = larger LPS x);
    without one,
    the best single candidate below the skull top whose side can be told; otherwise none.
    """
    warnings = []
    ranked = sorted(candidates, key=lambda c: -c.score)
    # a joint lies >= MIN_SINGLE_LATERAL_MM lateral of the head's midline: a candidate nearer it
    # (clivus, dens, petrous apex) never pairs, however strong (a phantom-trained localiser's
    # scores for such bone and for a true joint swap with a 0.1 mm change of grid or blur)
    lateral = [c for c in ranked if head.midline_x is None
               or abs(c.point[0] - head.midline_x) >= MIN_SINGLE_LATERAL_MM]
    best, best_score = None, -1.0
    for i, a in enumerate(lateral):
        for b in lateral[i + 1:]:
            if not pair_problems(a, b, head) and a.score + b.score > best_score:
                best, best_score = (a, b), a.score + b.score
    if best is not None:
        left, right = sorted(best, key=lambda c: -c.point[0])
        return {L.LEFT: left, L.RIGHT: right}, warnings
    if len(lateral) >= 2:
        warnings.append("joint localisation: no two candidates form a plausible pair of TMJs (%s)"
                        % "; ".join(pair_problems(lateral[0], lateral[1], head)))
    elif len(ranked) >= 2:
        warnings.append("joint localisation: no two candidates form a plausible pair of TMJs "
                        "(%d of %d lie < %.0f mm from the head's midline)"
                        % (len(ranked) - len(lateral), len(ranked), MIN_SINGLE_LATERAL_MM))
    for c in ranked:
        if not _below_top(c, head):
            continue
        side = single_side(c, head)
        if side is None:
            continue
        other = L.other_side(side)
        warnings.append("only one joint found (the patient's %s); the %s joint is not in the "
                        "field of view or was not found" % (side, other))
        return {side: c, other: None}, warnings
    warnings.append("no temporomandibular joint found in the image")
    return {L.LEFT: None, L.RIGHT: None}, warnings


def _points_of(image, kji, weights=None):
    idx = np.stack([kji[2], kji[1], kji[0]], 1).astype(float)
    d = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())[None]
    pts = idx @ d.T + np.asarray(image.GetOrigin())
    if weights is None:
        return pts
    return (pts * weights[:, None]).sum(0) / weights.sum()


def field_of_view(ct, grid):
    """Boolean (z, y, x) mask of the ``grid`` voxels inside the scanned volume of ``ct``."""
    ones = sitk.Image(ct.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(ct)
    inside = sitk.Resample(ones, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(inside) > 0


def head_frame(coarse_hu, fov=None):
    """:class:`HeadFrame` from the CT on an LPS-aligned coarse grid (HU, identity direction);
    ``fov`` marks the grid voxels inside the scan (default: all), so that padding outside the
    scan is never mistaken for air around the head."""
    arr = sitk.GetArrayViewFromImage(coarse_hu)
    fov = np.ones(arr.shape, bool) if fov is None else fov
    head = (arr > HEAD_HU) & fov
    labelled, count = ndimage.label(head)
    if count == 0:
        return HeadFrame()
    sizes = ndimage.sum(head, labelled, range(1, count + 1))
    head = labelled == (1 + int(np.argmax(sizes)))
    spacing = np.asarray(coarse_hu.GetSpacing())
    origin = np.asarray(coarse_hu.GetOrigin())
    top_z = None
    k_top = int(np.nonzero(head.any(axis=(1, 2)))[0].max())
    if k_top + 1 < head.shape[0] and fov[k_top + 1][head[k_top]].mean() > 0.9:
        top_z = origin[2] + spacing[2] * k_top    # scanned air above the head's top
    outside = ~fov
    beside = np.zeros_like(outside)
    beside[:, :, 1:] |= outside[:, :, :-1]
    beside[:, :, :-1] |= outside[:, :, 1:]
    beside[:, :, 0] = True
    beside[:, :, -1] = True
    air = ~head & fov

    def slab_midline(z):
        k = int(round((z - origin[2]) / spacing[2]))
        half = int(np.ceil(SLAB_MM / spacing[2]))
        slab = head[max(k - half, 0):k + half + 1]
        if not slab.any() or (slab & beside[max(k - half, 0):k + half + 1]).any():
            return None    # the head's width is cut by the field of view at this level
        columns = np.nonzero(slab.any(axis=(0, 1)))[0]
        return origin[0] + spacing[0] * (columns.min() + columns.max()) / 2.0

    def lateral_of(point, radius=35.0):
        kji = np.round((np.asarray(point)[::-1] - origin[::-1]) / spacing[::-1]).astype(int)
        r = np.ceil(radius / spacing).astype(int)
        lo = np.maximum(kji - r[::-1], 0)
        box = air[lo[0]:kji[0] + r[2] + 1, lo[1]:kji[1] + r[1] + 1, lo[2]:kji[2] + r[0] + 1]
        x = origin[0] + spacing[0] * (lo[2] + np.arange(box.shape[2])) - point[0]
        plus, minus = box[:, :, x > 0].sum(), box[:, :, x < 0].sum()
        if max(plus, minus) < 2 * min(plus, minus) + 5:
            return 0
        return 1 if plus > minus else -1

    frame = HeadFrame(None, top_z, lateral_of)
    frame.midline_at = slab_midline
    return frame


def candidates_from_probabilities(grid, joint_prob, side_probs=None):
    """Candidates from a joint probability array on ``grid``: connected regions above 0.5 of at
    least MIN_CANDIDATE_MM3, the MAX_CANDIDATES strongest (peak probability, then volume)."""
    mask = joint_prob > PROBABILITY_THRESHOLD
    labelled, count = ndimage.label(mask)
    if count == 0:
        return []
    voxel = float(np.prod(grid.GetSpacing()))
    index = np.arange(1, count + 1)
    volumes = np.bincount(labelled.ravel(), minlength=count + 1)[1:] * voxel
    peaks = ndimage.maximum(joint_prob, labelled, index)
    big = [n for n in index[np.lexsort((-volumes, -peaks))] if volumes[n - 1] >= MIN_CANDIDATE_MM3]
    out = []
    for n in big[:MAX_CANDIDATES]:
        kji = np.nonzero(labelled == n)
        w = joint_prob[kji]
        hint = None
        if side_probs is not None:
            left, right = side_probs[0][kji].sum(), side_probs[1][kji].sum()
            hint = L.LEFT if left > right else L.RIGHT
        out.append(Candidate(_points_of(grid, kji, w), float(peaks[n - 1]), volumes[n - 1], hint))
    out.sort(key=lambda c: (-c.score, -c.volume_mm3))
    return out[:MAX_CANDIDATES]


def localize_joints(ct, network, metadata, device="cpu", half=False):
    """:class:`Localization` of both joints in ``ct`` (SimpleITK, HU) with the localiser."""
    # coarse voxels at fixed physical points (multiples of the spacing in LPS) and one blur
    # whatever the scan's voxel size: the same head gives the same coarse image on any grid
    grid = anchored_grid(ct, metadata["target_spacing_mm"])
    ct = shrink_for(ct, metadata["target_spacing_mm"])
    coarse = smooth_resample_physical(ct, grid)   # Gaussian pre-smoothing, then linear
    volume = normalise(sitk.GetArrayViewFromImage(coarse), metadata.get("intensity"))
    patch = ((metadata.get("extra") or {}).get("crop") or {}).get("patch_size_xyz")
    probs = predict_probabilities(network, volume, [int(v) for v in patch][::-1] if patch else None,
                                  device=device, half=half)
    names = [str(n).lower() for n in metadata["label_names"]]
    left = [i for i, n in enumerate(names) if "joint" in n and "left" in n]
    right = [i for i, n in enumerate(names) if "joint" in n and "right" in n]
    joint = [i for i, n in enumerate(names) if i > 0 and "background" not in n]
    side_probs = (probs[left].sum(0), probs[right].sum(0)) if left and right else None
    candidates = candidates_from_probabilities(grid, probs[joint].sum(0), side_probs)
    frame = head_frame(coarse, field_of_view(ct, grid))
    if candidates:
        z = float(np.median([c.point[2] for c in candidates]))
        frame.midline_x = frame.midline_at(z)
    chosen, warnings = choose_joints(candidates, frame)
    joints = {side: None if c is None else [float(v) for v in c.point]
              for side, c in chosen.items()}
    return Localization(joints, candidates, warnings, frame.midline_x)
