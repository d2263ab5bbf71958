"""Which pieces of a labelled bone are measured: boolean (z, y, x) masks on one grid.

A label map may hold a bone in several 26-connected pieces: specks a segmentation leaves, a
second structure given the same label, or one bone cracked by a gap a voxel wide (a thin fossa
roof, a threshold). What is measured (docs/method.md, "Bones in pieces"):

- The condyle is one piece of bone: its largest piece, enclosed cavities filled (marrow left
  unlabelled is condyle). The surface, the condyle volume and the joint space are all of that
  solid; voxels of other pieces are left out and counted (the quality gate words a caution).
- The temporal bone is every piece within the rays' reach of that condyle, specks (under
  ``MIN_PIECE_FRACTION`` of its largest piece) dropped, enclosed cavities filled: a ray meets
  whatever bone lies in its way, and a cracked fossa roof is still the roof. Measuring the largest
  piece alone read a head phantom's NV 26-50 % low with a one-voxel crack across its fossa.

Imports only numpy and scipy (the pipeline's cleaning, :mod:`..inference.postprocess`, keeps the
same rules). Lengths are mm; spacings are (x, y, z) mm as SimpleITK gives them.
"""

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

MIN_PIECE_FRACTION = 0.02   # a piece under 2 % of the largest one's voxels is a speck
FULL = np.ones((3, 3, 3), bool)   # 26-connected pieces
CHUNK = 4096                      # a piece's surface points looked up at a time


def pieces(mask):
    """(labelled array, voxel count per label with count[0] = 0) of a boolean mask's pieces."""
    labelled, _ = ndimage.label(mask, structure=FULL)
    sizes = np.bincount(labelled.ravel())
    sizes[0] = 0
    return labelled, sizes


def largest_piece(mask):
    """The largest 26-connected piece of a boolean mask (an empty mask stays empty)."""
    mask = np.asarray(mask, bool)
    labelled, sizes = pieces(mask)
    if len(sizes) <= 2:
        return mask
    return labelled == int(np.argmax(sizes))


def drop_specks(mask, fraction=MIN_PIECE_FRACTION):
    """The pieces of a boolean mask of at least ``fraction`` of its largest piece's voxels."""
    mask = np.asarray(mask, bool)
    labelled, sizes = pieces(mask)
    if len(sizes) <= 2:
        return mask
    keep = sizes >= fraction * sizes.max()
    keep[0] = False
    return keep[labelled]


def _box(mask):
    """Slices of the True voxels' bounding box (None when there are none)."""
    found = ndimage.find_objects(np.asarray(mask, np.uint8))
    return found[0] if found else None


def fill_cavities(mask):
    """A boolean mask with its enclosed cavities filled: background not 6-connected to the
    array's border (worked out in the mask's bounding box: the background around it reaches
    the border)."""
    mask = np.asarray(mask, bool)
    box = _box(mask)
    if box is None:
        return mask.copy()
    out = mask.copy()
    out[box] = ndimage.binary_fill_holes(mask[box])
    return out


class Condyle(object):
    """The measured condyle of a label's voxels ``mask``: ``mask`` (largest piece, cavities
    filled), ``left_out`` (voxels of the other pieces) and ``filled`` (cavity voxels added)."""

    def __init__(self, mask):
        mask = np.asarray(mask, bool)
        largest = largest_piece(mask)
        self.mask = fill_cavities(largest)
        self.left_out = int(mask.sum() - largest.sum())
        self.filled = int(self.mask.sum() - largest.sum())


def _surface_points(part, box, spacing):
    """(n, 3) positions (mm, index times spacing: distances are physical on an orthonormal grid)
    of the voxels of ``part`` (a boolean array of the slices ``box`` of the grid) with a
    26-neighbour outside it: only those can be nearest to another bone."""
    surface = part & ~ndimage.binary_erosion(part, structure=FULL)
    offset = np.array([sl.start for sl in box])
    return (np.argwhere(surface) + offset) * np.asarray(spacing, float)[::-1]


def temporal_bone(mask, condyle, spacing, reach_mm):
    """The temporal bone's pieces that a ray from ``condyle`` can meet, cavities filled.

    Args:
        mask: the label's voxels (boolean, z, y, x).
        condyle: the measured condyle's voxels (:class:`Condyle` ``.mask``) on the same grid.
        spacing: (x, y, z) mm of the grid (its direction orthonormal).
        reach_mm: the rays' longest length (mm). A piece is kept when one of its voxel centres
            lies within ``reach_mm`` plus one voxel diagonal of a condyle voxel centre (a ray
            starts on the condyle's surface and ends on the bone's, each within half a diagonal
            of a centre); when none is, the largest piece alone (no ray will meet it).
    """
    mask = np.asarray(mask, bool)
    labelled, sizes = pieces(mask)
    if len(sizes) <= 2 or not condyle.any():
        return fill_cavities(mask if len(sizes) <= 2 else labelled == int(np.argmax(sizes)))
    candidates = np.flatnonzero(sizes >= MIN_PIECE_FRACTION * sizes.max())
    box = _box(condyle)
    tree = cKDTree(_surface_points(condyle[box], box, spacing))
    limit = reach_mm + float(np.linalg.norm(spacing))
    keep = np.zeros(len(sizes), bool)
    boxes = ndimage.find_objects(labelled)
    for value in candidates:
        box = boxes[value - 1]
        points = _surface_points(labelled[box] == value, box, spacing)
        keep[value] = any(   # stops at the first chunk with a point within reach
            np.isfinite(tree.query(points[k:k + CHUNK], distance_upper_bound=limit)[0]).any()
            for k in range(0, len(points), CHUNK))
    if not keep.any():
        keep[int(np.argmax(sizes))] = True
    return fill_cavities(keep[labelled])
