"""Metal in or near a joint: a check of the quality gate (:mod:`.quality`, docs/method.md
"Quality gate"), per side, on the CT (HU) and the measured label map.

A joint operated on may hold a total joint prosthesis (a metal condylar head) or a plate and
screws on a fractured condylar neck; the CT saturates on metal and paints streaks across its
slices. The networks were trained on bone, not metal, and measure a metal head as a condyle:
the real head of ../shared with its left condyle replaced by a metal head of 20 x 10 x 10 mm
(benchmarks/metal_artifacts.py, probe ``metal_prosthesis_left``) read NV -8 % and condyle -31 %
(a condyle asymmetry of 15 %, flagged) with no caution; with the lower face of its fossa roof
made metal (a metal-backed fossa component, ``metal_fossa_left``) NV -9.6 %. With a titanium
plate on the condylar neck 2-28 mm below the condyle's centre (probes ``metal_plate_left_*``:
NV +0.1 / -0.8 %) or amalgam in the molars 41 mm below (-0.1 %), the numbers stayed. So:

- **metal inside what is measured** (at least METAL_MIN_MM3 of CT voxels at METAL_HU or more,
  within METAL_NEAR_MM of the condyle's centre, inside its condylar head, its joint space, or
  its temporal bone within JOINT_TOUCH_MM of the joint space): the side is not measurable, the
  reason says where;
- **metal near the joint** (as much within METAL_NEAR_MM of the condyle's centre, elsewhere:
  the condyle's neck, beside the joint): a caution, the numbers kept.

METAL_HU: bone stays below it (the real head's cortex within 30 mm of either joint reaches 2233
HU, its densest enamel 3063 HU 40 mm below and 65 mm in front of the joints, outside the
reach), metal saturates a 12-bit scale at 3071 HU. A scan whose bone runs brighter (a CBCT's grey
values) raises it to METAL_OVER_BONE times its own temporal bone's 90th percentile, or to the
top of its scale where metal saturates it below that and its bone does not reach it
(DENSEST_BONE). Lengths in mm, volumes in mm^3, points in LPS mm. numpy + SimpleITK only.
"""

import numpy as np
import SimpleITK as sitk

from . import labels as L
from .engine.labelled_region import lps_points, values_at
from .engine.measurement_grid import corner_indices
from .field_of_view import condylar_head
from .labels import CONDYLAR_HEAD_MM

METAL_HU = 2800.0       # above any bone near the joint (real head: <= 2233 HU within 30 mm)
METAL_MIN_MM3 = 5.0     # less is a few bright voxels (noise, a streak crossing dense bone)
METAL_NEAR_MM = 20.0    # from the condyle's centre: its poles are ~10 mm out, its top ~8 mm up
JOINT_TOUCH_MM = 1.5    # temporal-bone metal this close to the joint space is what rays meet
METAL_OVER_BONE = 1.7   # metal is also this many times the side's temporal bone's 90th
                        # percentile: the densest bone near a joint is ~1.45 times it (real head
                        # 2233 / 1550 HU; its bone's HU above 100 x 1.75, as a CBCT's grey values
                        # may run, 3830 / 2640: 2800 alone called that bone metal)
BONE_SAMPLE = 20000     # temporal-bone voxels sampled for that percentile
DENSEST_BONE = 1.45     # the densest bone near a joint over that percentile (real head 2233 /
                        # 1550 HU): when the CT's scale saturates (a 12-bit CT's 3071 HU) below
                        # the limit but above DENSEST_BONE x the percentile, what reaches the
                        # scale's top is metal (the real head's bone x 1.25, dense bone: its
                        # limit 3250 HU, a metal condyle at 3071 was missed, NV -3 %, condyle -23 %)


def metal_points(ct, around):
    """(LPS mm points (n, 3), mm^3 per CT voxel) of the CT voxels at METAL_HU or more within the
    physical box of the image ``around`` (the CT read only there)."""
    index = corner_indices(around, ct)
    lo = np.clip(np.floor(index.min(axis=0)).astype(int), 0, None)
    hi = np.minimum(np.ceil(index.max(axis=0)).astype(int) + 1, ct.GetSize())
    voxel_mm3 = float(np.prod(ct.GetSpacing()))
    if np.any(hi <= lo):
        return np.zeros((0, 3)), voxel_mm3
    array = sitk.GetArrayViewFromImage(ct)[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
    kji = np.nonzero(array >= METAL_HU)
    if kji[0].size == 0:
        return np.zeros((0, 3)), voxel_mm3
    return lps_points(ct, (kji[0] + lo[2], kji[1] + lo[1], kji[2] + lo[0])), voxel_mm3


def _touching(label_array, image, points, value, reach_mm):
    """Which ``points`` (LPS mm) have a voxel of label ``value`` within ``reach_mm`` along one
    of the image's six axis directions (or at the point itself)."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    hit = values_at(label_array, image, points) == value
    for axis in range(3):
        for sign in (-1.0, 1.0):
            for step in np.arange(0.5, reach_mm + 1e-6, 0.5):
                moved = points + sign * step * direction[:, axis]
                hit |= values_at(label_array, image, moved) == value
    return hit


def metal_threshold(ct, label_array, image, side):
    """(HU from which a voxel is metal for ``side``, the side's temporal bone's 90th percentile
    or None): METAL_HU, or METAL_OVER_BONE times the 90th percentile of the CT at (up to
    BONE_SAMPLE of) the side's temporal-bone voxels below METAL_HU (all of them when most are
    above) when that is higher (a scan whose bone runs brighter than a CT's in HU)."""
    kji = np.nonzero(label_array == L.TEMPORAL_BONE[side])
    if kji[0].size == 0:
        return METAL_HU, None
    step = max(1, kji[0].size // BONE_SAMPLE)
    points = lps_points(image, tuple(k[::step] for k in kji))
    bone = values_at(sitk.GetArrayViewFromImage(ct), ct, points).astype(np.float64)
    below = bone[bone < METAL_HU]   # metal inside the bone (a lined fossa) must not raise it
    bone = below if below.size * 2 >= bone.size else bone
    p90 = float(np.percentile(bone, 90))
    return max(METAL_HU, METAL_OVER_BONE * p90), p90


def check_metal(ct, label_array, image, side, centre):
    """(reasons, cautions) of ``side`` for the metal of ``ct`` (HU) around its condyle.

    Not measurable: metal in the condylar head (the condyle label's top CONDYLAR_HEAD_MM, LPS z
    superior) or in the joint space, or in the temporal bone within JOINT_TOUCH_MM of the joint
    space (what the rays meet); a caution: any other metal within METAL_NEAR_MM of the
    condyle's centre (on its neck, beside the joint).

    Args:
        ct: SimpleITK CT in HU (any grid holding the joint; None: nothing to check).
        label_array, image: the measured label map (z, y, x) around the side's condyle and its
            grid (the engine's, which may be finer than the CT's).
        centre: the condyle's centre (LPS mm).
    """
    if ct is None or centre is None:
        return [], []
    points, voxel_mm3 = metal_points(ct, image)
    distance = np.linalg.norm(points - np.asarray(centre, float), axis=1)
    points, distance = points[distance <= METAL_NEAR_MM], distance[distance <= METAL_NEAR_MM]
    if len(points) * voxel_mm3 < METAL_MIN_MM3:
        return [], []
    threshold, p90 = metal_threshold(ct, label_array, image, side)
    if threshold > METAL_HU:
        values = values_at(sitk.GetArrayViewFromImage(ct), ct, points)
        top = float(values.max())
        if (top < threshold and DENSEST_BONE * p90 < top
                and np.count_nonzero(values == top) * voxel_mm3 >= METAL_MIN_MM3):
            threshold = top   # the scale saturates below the limit, and bone stays under its top
        keep = values >= threshold
        points, distance = points[keep], distance[keep]
        if len(points) * voxel_mm3 < METAL_MIN_MM3:
            return [], []
    found = values_at(label_array, image, points)
    condyle = found == L.CONDYLE[side]
    in_head = condyle.copy()
    if condyle.any():
        _kji, head = condylar_head(image, label_array == L.CONDYLE[side])
        in_head &= points[:, 2] >= head[:, 2].max() - CONDYLAR_HEAD_MM
    in_joint = found == L.NEGATIVE_VOLUME[side]
    on_joint = (found == L.TEMPORAL_BONE[side]) & _touching(
        label_array, image, points, L.NEGATIVE_VOLUME[side], JOINT_TOUCH_MM)
    parts = [(name, np.count_nonzero(where) * voxel_mm3) for name, where in (
        ("condylar head", in_head), ("joint space", in_joint),
        ("temporal bone facing the joint", on_joint))]
    inside = [(name, mm3) for name, mm3 in parts if mm3 > 0]
    if sum(mm3 for _name, mm3 in inside) >= METAL_MIN_MM3:
        return ["metal in the joint (%s at %.0f HU or more; a prosthesis or fixation): its "
                "surfaces are not bone's" % (", ".join("%.0f mm3 in the %s" % (mm3, name)
                                                        for name, mm3 in inside), threshold)], []
    neck = np.count_nonzero(condyle) * voxel_mm3
    return [], ["metal %.0f mm from the condyle's centre: %.0f mm3 at %.0f HU or more%s; its "
                "streaks may distort the surfaces, check the segmentation"
                % (distance.min(), len(points) * voxel_mm3, threshold,
                   ", %.0f mm3 inside the condyle's neck and counted in its volume" % neck
                   if neck >= METAL_MIN_MM3 else "")]

