"""The joints' part of a CT: where labels are made, cleaned and measured (the joint boxes plus
the rays' reach), so that no full-size copy of the scan is made (a 0.2 mm CBCT must fit), and the
label map given back on the CT's grid. Boxes are index boxes (x, y, z) [i0, i1) of the CT.
"""

import numpy as np
import SimpleITK as sitk

from ..engine.labelled_region import paste

# Scans larger than this (voxels) get their label map on the joints' part of the grid only: a
# full-size uint8 copy would break the memory budget (peak <= the CT + 1.5 GB; benchmarks/
# bench_memory.py). 2**29 = 537 M voxels, e.g. 0.32 mm isotropic over a whole head; clinical CTs
# (512 x 512 x <= 1000) stay far below it.
FULL_GRID_LABELS_MAX_VOXELS = 2 ** 29


def labels_part(ct, array, box):
    """(uint8 label image, CT) of index ``box`` (x, y, z) of ``ct`` and its label ``array``
    (z, y, x); the whole of both when ``box`` is None."""
    if box is None:
        labels = sitk.GetImageFromArray(array)
        labels.CopyInformation(ct)
        return labels, ct
    (x0, y0, z0), (x1, y1, z1) = [[int(v) for v in b] for b in box]
    labels = sitk.GetImageFromArray(np.ascontiguousarray(array[z0:z1, y0:y1, x0:x1]))
    part = sitk.RegionOfInterest(ct, [x1 - x0, y1 - y0, z1 - z0], [x0, y0, z0])
    labels.CopyInformation(part)
    return labels, part


def joints_region(ct, joints, margin_mm):
    """Index box (x, y, z) [i0, i1) of the CT holding every joint's box grown by ``margin_mm``
    and one voxel (what :func:`.engine.labelled_region.labelled_box` can reach from labels
    inside the joint boxes), clamped to the CT; None when no joint was segmented."""
    boxes = [joint.box for joint in joints.values() if joint is not None]
    if not boxes:
        return None
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    grow = (np.ceil(margin_mm / np.asarray(ct.GetSpacing(), float)) + 1).astype(int)
    return np.maximum(lo - grow, 0), np.minimum(hi + grow, np.asarray(ct.GetSize()))


def grid_corner(ct, ct_region, region, array):
    """The LPS point (mm) the engine's 0.3 mm grid is laid from (:func:`.engine.shape_interpolation.
    fine_grid`), or None without labels: the corner of the labelled part of the CT as the
    engine cuts it at the default rays' reach and mode (the labels' box, in ``array`` (z, y, x)
    on ``ct_region``, the part ``region`` of ``ct``, grown by that reach and a voxel, within the
    CT), whatever reach and mode the run asks for. So the fine voxels, and the condyle's volume
    on them, do not move with the reach or the mode (the real head's condyles read 1772.2 /
    1677.8, 1764.9 / 1671.1 and 1784.3 / 1663.4 mm^3 with rays of 8, 10 and 12 mm when the grid
    was laid from the part measured; a one-joint crop's 1769.6 confined, 1759.0 in mode paper,
    whose 30 mm cube widened that part), and with the defaults the grid is that part's as before."""
    from ..engine.labelled_region import labelled_box, working_margin_mm
    from ..engine.shape_interpolation import grid_corner as corner_of
    from ..options import DEFAULTS

    box = labelled_box(ct_region, 0.0, array)   # the labels' box grown by one voxel
    if box is None:
        return None
    offset = np.zeros(3, int) if region is None else np.asarray(region[0], int)
    reach = working_margin_mm(DEFAULTS["max_distance_mm"], DEFAULTS["mode"], DEFAULTS["cube_mm"])
    grow = np.ceil(reach / np.asarray(ct.GetSpacing(), float)).astype(int)   # + the voxel above
    lo = np.maximum(offset + box[0] - grow, 0)
    hi = np.minimum(offset + box[1] + grow, np.asarray(ct.GetSize()))
    return corner_of(ct, (lo, hi))


def on_region(ct, joints, region):
    """(CT of ``region``, joints with their boxes in that region's index); unchanged when
    ``region`` is None."""
    from .segment import JointSegmentation

    if region is None:
        return ct, joints
    lo, hi = region
    part = sitk.RegionOfInterest(ct, [int(v) for v in hi - lo], [int(v) for v in lo])
    local = dict((side, None if j is None else JointSegmentation(
        j.side, j.centre_lps, (j.box[0] - lo, j.box[1] - lo), j.probabilities, j.crop))
        for side, j in joints.items())
    return part, local


def in_ct(box, region):
    """``box`` (index in ``region``) as an index box of the whole CT."""
    if region is None:
        return box
    if box is None:
        return region
    return box[0] + region[0], box[1] + region[0]


def labels_for_output(ct, labels, box, warnings):
    """The label map written and shown: the one measured when the engine measured on its own
    fine grid (a CT coarser than 0.3 mm: the joints' part at 0.3 mm, engine/measurement_grid.py);
    else on the CT's grid (the part pasted into zeros), or, for a scan of more than
    FULL_GRID_LABELS_MAX_VOXELS voxels, the labelled part itself (same spacing and direction,
    its own origin; a warning says so): a full-size copy would cost one byte per voxel of the
    scan."""
    if not np.allclose(labels.GetSpacing(), ct.GetSpacing()):
        return labels
    voxels = float(ct.GetNumberOfPixels())
    if box is None or voxels <= FULL_GRID_LABELS_MAX_VOXELS:
        return paste(ct, labels, box)
    warnings.append("large scan (%.0f M voxels): the label map covers only the joints' part of "
                    "the CT grid" % (voxels / 1e6))
    return labels
