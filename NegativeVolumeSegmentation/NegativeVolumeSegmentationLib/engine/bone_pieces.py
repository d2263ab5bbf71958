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
BRIDGE_VOXELS = 2                 # condyle pieces this many voxel steps apart are one cracked bone


def pieces(mask):
    """(labelled array, voxel count per label with count[0] = 0) of a boolean mask's pieces
    (counted over the mask's voxels only: no 64-bit copy of the whole labelled array)."""
    mask = np.asarray(mask, bool)
    labelled, count = ndimage.label(mask, structure=FULL)
    sizes = np.bincount(labelled[mask], minlength=count + 1)
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


def fill_slice_holes(mask):
    """A boolean mask with the holes of its slices filled, along each of the three axes: a
    cavity open to the outside through one channel or an open end (a cortex-only condyle label
    cut at the neck) is enclosed in the slices across its opening."""
    mask = np.asarray(mask, bool)
    box = _box(mask)
    if box is None:
        return mask.copy()
    part, out = mask[box], mask.copy()
    filled = part.copy()
    for axis in range(3):
        planar = np.zeros((3, 3, 3), bool)   # connectivity within the slices across ``axis``
        index = [slice(None)] * 3
        index[axis] = 1
        planar[tuple(index)] = ndimage.generate_binary_structure(2, 1)
        filled |= ndimage.binary_fill_holes(part, structure=planar)
    out[box] = filled
    return out


def _near(mask, steps):
    return ndimage.binary_dilation(mask, structure=FULL, iterations=steps)


def _within(mask, axis, sign, steps):
    """Voxels with a voxel of ``mask`` at most ``steps`` voxels away along ``axis`` in the
    direction ``sign`` (+1 / -1)."""
    out = np.zeros_like(mask)
    n = mask.shape[axis]
    for k in range(1, min(steps, n - 1) + 1):
        here = [slice(None)] * 3
        there = [slice(None)] * 3
        here[axis] = slice(0, n - k) if sign > 0 else slice(k, n)
        there[axis] = slice(k, n) if sign > 0 else slice(0, n - k)
        out[tuple(here)] |= mask[tuple(there)]
    return out


def _gap(a, b, steps):
    """Voxels lying between ``a`` and ``b`` along an axis, each at most ``steps`` voxels away
    (a crack's voxels; not the voxels beside the crack's rim outside the bone)."""
    out = np.zeros_like(a)
    for axis in range(3):
        out |= _within(a, axis, 1, steps) & _within(b, axis, -1, steps)
        out |= _within(a, axis, -1, steps) & _within(b, axis, 1, steps)
    return out


def join_cracked(mask):
    """The largest piece of ``mask`` with every piece at most ``BRIDGE_VOXELS`` 26-neighbour
    steps from it (one bone cracked by a gap: a slice skipped when painting), and the gap's
    voxels between them; the pieces farther away are left out."""
    mask = np.asarray(mask, bool)
    labelled, sizes = pieces(mask)
    if len(sizes) <= 2:
        return mask
    union = labelled == int(np.argmax(sizes))
    while True:
        found = np.unique(labelled[_near(union, BRIDGE_VOXELS) & ~union])
        found = found[found > 0]
        if not len(found):
            return union
        joined = np.isin(labelled, found)
        union |= joined | (_gap(union, joined, BRIDGE_VOXELS) & ~mask)


class Condyle(object):
    """The measured condyle of a label's voxels ``mask``: ``mask`` (its largest piece with the
    pieces a gap of a voxel or two away, :func:`join_cracked`, cavities and the holes of its
    slices filled), ``left_out`` (voxels of the other pieces) and ``filled`` (voxels added)."""

    def __init__(self, mask):
        mask = np.asarray(mask, bool)
        self.mask = np.zeros_like(mask)
        box = _box(mask)
        self.left_out = self.filled = 0
        if box is None:
            return
        box = tuple(slice(max(b.start - BRIDGE_VOXELS, 0), b.stop + BRIDGE_VOXELS) for b in box)
        part = mask[box]   # worked out in the label's box, grown by a crack's width
        joined = join_cracked(part)
        self.mask[box] = fill_slice_holes(fill_cavities(joined))
        self.left_out = int((part & ~joined).sum())
        self.filled = int(self.mask[box].sum() - (part & joined).sum())


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
