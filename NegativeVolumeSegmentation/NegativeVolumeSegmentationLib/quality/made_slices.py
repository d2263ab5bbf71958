"""Slices at the joint that were never measured: a check of the quality gate (:mod:`.quality`,
docs/method.md "Quality gate"), per side, on the CT (HU).

A series with slices missing, read by a loader that makes its geometry regular (Slicer's DICOM
loader regularises the acquisition geometry, converters fill gaps), has the gap filled by linear
interpolation between the slices either side, or by copies of one of them: the grid then says
1 mm slices where the joint holds measured slices 3-5 mm apart. The real head of ../shared with
2-4 slices at the top of its condyles so made read NV -17 .. +4 % with no caution
(benchmarks/real_ct_probes.py, ``interpolated_*`` and ``copied_*``).

A made slice is told voxel by voxel: an interpolated one lies on the line between its neighbours
(``|a[k-1] - 2 a[k] + a[k+1]| <= LINE_HU``: integer rounding), a copy equals a neighbour (to
COPY_HU; of a run of equal slices one was measured). Of the body's voxels (over BODY_HU) of a
slice through the joint, the real head's
measured slices read 1-12 % so (their noise), its made slices 100 %: a slice is made from
MADE_FRACTION. The gap between measured slices at the joint, (longest run of made slices + 1) x
the spacing, is judged as the grid check judges a spacing (:func:`.quality.check_grid`'s limits,
passed in). A scan resampled throughout (a 5 mm series on a 1 mm grid: made slices regularly,
REGULAR_FRACTION of those around the joint or more) is the grid check's
(:mod:`..slice_detail`), not this one's; an image whose median slice reads over TELL_FRACTION
of its voxels as made (no noise: a synthetic volume of constant regions; or very little)
cannot tell.

A gap's whole run counts, also where it reaches past the joint's box; a run as long elsewhere
around the joint is a scan made throughout (nearest neighbour onto a finer grid: a copy every
fourth or fifth slice), judged by the measured slices' mean spacing. Padding (flat patches of
one value) is no body. Not told: a gap filled by a smoother (cubic) interpolation, or one whose
filled slices carry noise of their own over ~0.6 HU (lossy compression after filling); a gap
filled with the mean of its two sides counts one slice short.

Lengths in mm; arrays (z, y, x); numpy, scipy and SimpleITK only.
"""

import numpy as np
import SimpleITK as sitk

from ..field_of_view import JOINT_MARGIN_MM, condylar_head, superior_axis
from ..hounsfield import flat_patches

LINE_HU = 2.0            # an interpolated voxel's distance from its neighbours' line (rounding)
COPY_HU = 0.5            # a copied voxel's difference from its neighbour
BODY_HU = -500.0         # voxels judged: the body's (air and padding are constant anyway)
MADE_FRACTION = 0.9      # of a slice's body voxels: real head 0.01-0.12 measured, 1.0 made
MIN_BODY_VOXELS = 100    # fewer: the slice cannot tell (counted as measured)
REGULAR_FRACTION = 0.25  # made slices around the joint: a scan resampled throughout
TELL_FRACTION = 0.5      # the median slice reading more of its voxels as made: cannot tell
AROUND_MM = 15.0         # slices read around the joint's for REGULAR_FRACTION


def _index_box(ct, points, margin_mm):
    """Index box (x, y, z) [lo, hi) of ``ct`` holding the LPS ``points`` grown by ``margin_mm``
    (any direction: the box of the grown box's corners), clipped to the image; None if empty."""
    lo, hi = points.min(axis=0) - margin_mm, points.max(axis=0) + margin_mm
    corners = [ct.TransformPhysicalPointToContinuousIndex((float(x), float(y), float(z)))
               for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    corners = np.asarray(corners)
    first = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    last = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, np.asarray(ct.GetSize()))
    return None if np.any(last - first < 3) else (first, last)


def made_flags(array):
    """(made, first) per slice along numpy axis 0 of ``array`` (HU): ``made`` True where the
    slice lies on its neighbours' line or equals one of them, ``first`` where it begins a run of
    equal slices (of which one, say the first, was measured: a run of m equal slices holds m - 1
    made ones, a gap filled by nearest neighbour two such runs); False where it cannot tell (too
    few body voxels; the first and last slice). None when the image's measured slices cannot be
    told from made ones (the median slice reads over TELL_FRACTION of its voxels as made: an
    image without noise, or so smooth that its voxels lie on their neighbours' line by chance)."""
    made, same = (np.full(array.shape[0], np.nan) for _ in range(2))
    for k in range(1, array.shape[0] - 1):
        before, here, after = (np.asarray(array[k + d], np.float32) for d in (-1, 0, 1))
        body = (here > BODY_HU) & ~flat_patches(here)   # padding (any value) is no body
        count = int(np.count_nonzero(body))
        if count < MIN_BODY_VOXELS:
            continue
        copy = np.abs(here - before) <= COPY_HU
        line = (np.abs(before - 2.0 * here + after) <= LINE_HU) | copy
        made[k] = np.count_nonzero(line & body) / float(count)
        same[k] = np.count_nonzero(copy & body) / float(count)
    read = made[np.isfinite(made)]
    if read.size == 0 or np.median(read) > TELL_FRACTION:
        return None
    equal_before = np.nan_to_num(same, nan=0.0) >= MADE_FRACTION   # slice k a copy of k - 1
    equal_after = np.append(equal_before[1:], False)
    flags = (np.nan_to_num(made, nan=0.0) >= MADE_FRACTION) | equal_after
    return flags, equal_after & ~equal_before


def _runs(flags):
    """[(first, stop)] of the runs of True in ``flags``."""
    edges = np.diff(np.concatenate([[0], np.asarray(flags, int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def made_gaps(ct, image, mc):
    """[(array axis x / y / z = 0 / 1 / 2, made slices in a row at the joint, mm between the
    measured slices there, whether made alike throughout)] for each axis of ``ct`` (HU) whose
    slices through the condylar head of ``mc`` ((z, y, x) boolean on ``image``'s grid) grown by
    JOINT_MARGIN_MM include made ones; empty when none (or the image cannot tell).

    A run at the joint longer than any other within AROUND_MM is a gap at the joint: its whole
    length counts (made slices + 1 apart). Runs as long elsewhere are a scan resampled throughout
    (nearest neighbour onto a finer grid): its measured slices lie, on average, the window's
    length over their number apart; from REGULAR_FRACTION of the slices made it is the slices'
    detail's matter (:mod:`..slice_detail`) and not reported here."""
    if ct is None or not np.any(mc):
        return []
    _kji, head = condylar_head(image, mc)
    joint = _index_box(ct, head, JOINT_MARGIN_MM)
    around = _index_box(ct, head, JOINT_MARGIN_MM + AROUND_MM)
    if joint is None or around is None:
        return []
    gaps = []
    for axis in range(3):          # x, y, z
        lo, hi = joint[0].copy(), joint[1].copy()
        lo[axis], hi[axis] = around[0][axis], around[1][axis]
        block = sitk.GetArrayViewFromImage(ct)[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
        found = made_flags(np.moveaxis(block, 2 - axis, 0))
        if found is None:
            continue
        flags, starts = found
        first, stop = joint[0][axis] - lo[axis], joint[1][axis] - lo[axis]
        runs = [(a, b, b - a - int(np.count_nonzero(starts[a:b]))) for a, b in _runs(flags)]
        at_joint = [n for a, b, n in runs if a < stop and b > first and n > 0]
        if not at_joint:
            continue
        longest = max(at_joint)
        elsewhere = max([n for a, b, n in runs if not (a < stop and b > first)] or [0])
        spacing = float(ct.GetSpacing()[axis])
        if longest > elsewhere:
            gaps.append((axis, longest, (longest + 1) * spacing, False))
            continue
        made = sum(n for _a, _b, n in runs)
        if made < REGULAR_FRACTION * len(flags):
            gaps.append((axis, longest, spacing * len(flags) / float(len(flags) - made), True))
    return gaps


def check_made_slices(ct, image, mc, slice_limits, inplane_limits):
    """(reasons, cautions) for the made slices at the joint (:func:`made_gaps`): the gap between
    measured slices judged with ``slice_limits`` ((limit, caution) mm, and the caution's
    uncertainty in %) along the axis nearest the patient's superior axis, ``inplane_limits``
    along the others; the axis whose gap is the largest against its limit alone. Nothing
    without a CT."""
    if ct is None:
        return [], []
    superior = superior_axis(ct)[0]
    judged = []
    for axis, run, gap, throughout in made_gaps(ct, image, mc):
        limit, caution, percent = slice_limits if axis == superior else inplane_limits
        judged.append((gap / limit, run, gap, throughout, limit, caution, percent))
    if not judged:
        return [], []
    _ratio, run, gap, throughout, limit, caution, percent = max(judged)
    if throughout:
        seen = ("slices interpolated or copied from their neighbours throughout (a scan "
                "resampled onto a finer grid?): measured slices %.3g mm apart on average" % gap)
    else:
        seen = ("%d %s at the joint interpolated or copied from %s neighbours (a gap in the "
                "series filled by the loader?): measured slices %.3g mm apart there"
                % (run, "slice" if run == 1 else "slices", "its" if run == 1 else "their", gap))
    if gap > limit + 1e-6:
        return ["%s (limit %.3g mm): the 2-3 mm joint space is not resolved" % (seen, limit)], []
    if gap > caution + 1e-6:
        return [], ["%s (over %.3g mm): negative volume uncertain by up to ~%d %%"
                    % (seen, caution, percent)]
    return [], []
