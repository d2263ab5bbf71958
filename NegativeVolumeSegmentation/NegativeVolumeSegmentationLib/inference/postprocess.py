"""Cleaning the network's condyle (MC) and temporal-bone (TB) masks on the CT grid.

- Extent (what the labels mean, as in the training labels, phantom/joint_labels.py): the MC is
  the mandible above the plane ``CONDYLE_DEPTH_MM`` below the condyle's top, the TB is the skull
  bone within ``TEMPORAL_BONE_RADIUS_MM`` of the condylar head's centre. The network sees bone
  continue past both cuts and cannot place them from local image evidence (on held-out phantoms
  86-91 % of its false-positive voxels lay in that unlabelled bone), so they are applied here
  geometrically: LPS z is "up" (head pose within ~25 degrees).
- MC: keep the largest 26-connected component (the condyle is one piece of bone), fill its
  enclosed holes (marrow of low density must count as condyle volume).
- TB: drop specks (pieces below ``MIN_PIECE_FRACTION`` of the largest one,
  :mod:`..engine.bone_pieces`, whose rules the engine measures with).
- Optional TB enhancement as in Belikova et al. 2021: Canny edges of the CT multiplied by the TB
  probability, thresholded at 0.1, morphologically closed and added to the TB mask; this recovers
  the thin fossa roof where the network's probability stays below 0.5.

All arrays are (z, y, x) on the CT grid (or a box of it); sizes in mm use the CT spacing.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L
from ..engine.bone_pieces import drop_specks, fill_cavities, largest_piece
from ..labels import (CONDYLE_DEPTH_MM, HEAD_CENTRE_DEPTH_MM,  # noqa: F401 (fine_masks)
                      TEMPORAL_BONE_RADIUS_MM)

ON_PLANE_MM = 1e-3                # a voxel centre this close to a cutting plane lies on it (left
                                  # out, not kept or lost by float rounding: docs/method.md
                                  # "The condyle's top on a voxel grid")
ENHANCE_THRESHOLD = 0.1           # edges x probability, as in the paper's code
CANNY_SIGMA_MM = 0.5
# hysteresis thresholds of ITK's Canny filter (its gradient units): a bone / soft-tissue step of
# >= 1000 HU gives edges at 0.3-1 mm voxels (300 HU at 0.5-1 mm), a 100 HU soft-tissue / fat
# step does not (measured on flat steps)
CANNY_THRESHOLDS = (50.0, 100.0)
CLOSING_RADIUS_MM = 1.0


def _ball(radius_mm, spacing_zyx):
    r = [max(1, int(round(radius_mm / s))) for s in spacing_zyx]
    z, y, x = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1, -r[2]:r[2] + 1]
    return (z * spacing_zyx[0]) ** 2 + (y * spacing_zyx[1]) ** 2 + (x * spacing_zyx[2]) ** 2 \
        <= radius_mm ** 2 + 1e-9


def canny_edges(ct_box):
    """Binary Canny edges (z, y, x) of a CT box (SimpleITK, HU)."""
    sigma = [max(CANNY_SIGMA_MM, 0.5 * s) for s in ct_box.GetSpacing()]
    edges = sitk.CannyEdgeDetection(sitk.Cast(ct_box, sitk.sitkFloat32),
                                    CANNY_THRESHOLDS[0], CANNY_THRESHOLDS[1],
                                    [s * s for s in sigma])
    return sitk.GetArrayFromImage(edges) > 0


def enhance_temporal_bone(tb_mask, tb_probability, ct_box):
    """TB mask plus the closed set where Canny edges x TB probability > 0.1 (paper's step C)."""
    edges = canny_edges(ct_box)
    candidate = edges & (tb_probability > ENHANCE_THRESHOLD)
    spacing_zyx = ct_box.GetSpacing()[::-1]
    closed = ndimage.binary_closing(candidate | tb_mask, structure=_ball(CLOSING_RADIUS_MM,
                                                                         spacing_zyx))
    return tb_mask | closed


class GridPoints(object):
    """LPS mm of the voxel centres of index ``box`` ((i0, i1), x, y, z; the whole grid when None)
    of a SimpleITK grid, computed where used: one coordinate or one distance of one z slab at a
    time, never a (z, y, x, 3) array of all points (~70 bytes per voxel
    while numpy makes it: 1.6 GB for one joint's box of a 0.25 mm scan)."""

    def __init__(self, reference, box=None):
        size = np.asarray(reference.GetSize())
        i0, i1 = (np.zeros(3, int), size) if box is None else (np.asarray(box[0]), np.asarray(box[1]))
        self.shape = tuple(int(v) for v in (i1 - i0)[::-1])   # (z, y, x)
        self.matrix = (np.asarray(reference.GetDirection(), float).reshape(3, 3)
                       * np.asarray(reference.GetSpacing(), float)[None, :])
        self.origin = np.asarray(reference.GetOrigin(), float) + self.matrix @ i0.astype(float)

    def coordinate(self, axis, k, minus=0.0):
        """LPS coordinate ``axis`` (0, 1, 2) minus ``minus`` (mm) of the voxels of z slab ``k``,
        (y, x)."""
        j = np.arange(self.shape[1], dtype=float)[:, None]
        i = np.arange(self.shape[2], dtype=float)[None, :]
        m = self.matrix[axis]
        out = np.full(self.shape[1:], self.origin[axis] - minus)
        out += m[0] * i
        out += m[1] * j
        out += m[2] * float(k)
        return out

    def half_height(self):
        """Half a voxel's extent along LPS z (mm): how far the top voxel's cell reaches above its
        centre, where the surface of the highest voxel lies."""
        return 0.5 * float(np.abs(self.matrix[2]).max())

    def of(self, mask):
        """(n, 3) LPS mm of the voxels of ``mask``."""
        k, j, i = np.nonzero(mask)
        return np.stack([i, j, k], axis=-1).astype(float) @ self.matrix.T + self.origin

    def distance(self, point, k):
        """Distance (mm) of the voxels of z slab ``k`` from the LPS ``point``, (y, x)."""
        total = np.zeros(self.shape[1:])
        for axis in range(3):
            total += self.coordinate(axis, k, point[axis]) ** 2
        return np.sqrt(total, out=total)


def above(mask, points, level):
    """``mask`` where the LPS z of the voxel's centre is above ``level`` (mm), slab by slab; a
    centre within ON_PLANE_MM of the plane lies on it and is left out."""
    out = np.zeros_like(mask)
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        out[k] = mask[k] & (points.coordinate(2, k) > level + ON_PLANE_MM)
    return out


def condyle_top(mc, points):
    """The condyle's top, LPS z (mm), of the non-empty ``mc`` (:class:`GridPoints`): the upper
    face of its highest voxel's cell (the highest centre plus :meth:`GridPoints.half_height`;
    the plane CONDYLE_DEPTH_MM below it then lies between two layers of a horizontal grid)."""
    return points.half_height() + max(points.coordinate(2, k)[mc[k]].max()
                                      for k in np.flatnonzero(mc.any(axis=(1, 2))))


def label_extent(mc, tb, points):
    """(mc, tb) cut to the labels' extent (module docstring); ``points``: :class:`GridPoints` of
    the masks' grid. Slab by slab: memory of one z slab of coordinates."""
    if not mc.any():
        return mc, tb
    top = condyle_top(mc, points)
    mc = largest_piece(above(mc, points, top - CONDYLE_DEPTH_MM))
    head = points.of(above(mc, points, top - HEAD_CENTRE_DEPTH_MM)).mean(axis=0)
    near = np.zeros_like(tb)
    for k in np.flatnonzero(tb.any(axis=(1, 2))):
        near[k] = tb[k] & (points.distance(head, k) <= TEMPORAL_BONE_RADIUS_MM)
    return mc, near


def clean_masks(mc, tb, points):
    """The cleaned (mc, tb) masks of one joint: MC's largest component cut to the labels'
    extent, holes filled; TB cut to its extent, outside the MC, without specks.
    ``points``: :class:`GridPoints` of the masks' grid."""
    mc_cut, tb_cut = label_extent(largest_piece(mc), tb, points)
    filled = fill_cavities(largest_piece(mc_cut))
    return filled, drop_specks(tb_cut & ~filled)


def clean_joint(label_array, joint, ct=None, enhance_tb=False):
    """Clean one joint's MC and TB inside its box of ``label_array`` (modified in place).

    Args:
        label_array: uint8 (z, y, x) label map (values 1-4) on the CT grid.
        joint: :class:`.segment.JointSegmentation` (its box and probabilities).
        ct: the CT (SimpleITK, HU): its geometry places the label extent, its values feed
            ``enhance_tb``.
    Returns a dict of the voxel counts changed per step (for the log).
    """
    sl = joint.slices()
    box = label_array[sl]
    mc_value, tb_value = L.CONDYLE[joint.side], L.TEMPORAL_BONE[joint.side]
    mc, tb = box == mc_value, box == tb_value
    filled, tb_clean = clean_masks(mc, tb, GridPoints(ct, joint.box))
    changes = {"condyle_removed": int((mc & ~filled).sum()),
               "condyle_filled": int((filled & ~mc).sum()),
               "temporal_bone_removed": int((tb & ~tb_clean).sum())}
    if enhance_tb:
        i0, i1 = joint.box
        ct_box = sitk.RegionOfInterest(ct, [int(v) for v in i1 - i0], [int(v) for v in i0])
        enhanced = enhance_temporal_bone(tb_clean, joint.probabilities["temporal_bone"], ct_box)
        enhanced &= ~filled
        changes["temporal_bone_enhanced"] = int((enhanced & ~tb_clean).sum())
        tb_clean = enhanced
    others = ~(mc | tb) & (box != 0)   # labels of the other joint, never overwritten
    new = np.zeros_like(box)
    new[tb_clean] = tb_value
    new[filled] = mc_value
    box[...] = np.where(others, box, new)
    return changes
