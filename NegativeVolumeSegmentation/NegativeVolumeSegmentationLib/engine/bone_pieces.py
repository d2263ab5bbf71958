"""Which pieces of a labelled bone are measured: boolean (z, y, x) masks on one grid.

A label map may hold a bone in several 26-connected pieces: specks a segmentation leaves, a
second structure given the same label, other bone the region's edge cut off, or one bone cracked
by a gap a voxel or two wide (a slice skipped when painting, a threshold across a thin fossa roof).
What is measured (docs/method.md, "Bones in pieces"): for the condyle and the temporal bone alike,
the label's largest piece together with the pieces a crack away (a gap at most ``CRACK_MM`` or
one voxel wide, the crack's voxels added: :func:`join_cracked`), its enclosed cavities filled;
the condyle's holes through its slices filled too (a cortex-only label open at the neck). Of a
condyle label in several large pieces (another bone labelled alike: a coronoid process), the one
nearest the temporal bone is the condyle (it sits in the fossa: :func:`seated_piece`).
Surfaces, the condyle volume and the NV are all of those solids; the condyle's voxels left out
and added are counted (the quality gate words a caution). Measuring the largest piece alone read
a head phantom's NV 26-50 % low with a one-voxel crack across its fossa, and a condyle cracked by
a skipped slice -34 .. -52 % in volume.

Imports only numpy and scipy (the pipeline's cleaning, :mod:`..inference.postprocess`, uses the
same module). Arrays are (z, y, x); spacings (x, y, z) mm as SimpleITK gives them.
"""

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

MIN_PIECE_FRACTION = 0.02   # a piece under 2 % of the largest one's voxels is a speck
FULL = np.ones((3, 3, 3), bool)   # 26-connected pieces
CRACK_MM = 0.6                    # pieces apart by a gap this wide (mm) or one voxel, whichever
                                  # is wider, are one cracked bone
SEATED_FRACTION = 0.25            # condyle pieces this large (of the largest) may be the condyle


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


def crack_voxels(spacing):
    """The widest crack (voxels along z, y, x) on a grid of ``spacing`` ((x, y, z) mm):
    CRACK_MM or one voxel, whichever is wider (0.25 mm voxels: 2; 0.5-2 mm: 1)."""
    return tuple(max(1, int(CRACK_MM / float(s) + 1e-6)) for s in tuple(spacing)[::-1])


def _near(mask, steps):
    """Voxels at most ``steps`` ((z, y, x) voxels) from ``mask`` along each axis."""
    return ndimage.binary_dilation(mask, structure=np.ones([2 * k + 1 for k in steps], bool))


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
    """Voxels lying between ``a`` and ``b`` along an axis, each at most ``steps`` ((z, y, x))
    voxels away (a crack's voxels; not the voxels beside the crack's rim outside the bone)."""
    out = np.zeros_like(a)
    for axis in range(3):
        out |= _within(a, axis, 1, steps[axis]) & _within(b, axis, -1, steps[axis])
        out |= _within(a, axis, -1, steps[axis]) & _within(b, axis, 1, steps[axis])
    return out


def _surface_mm(mask, spacing, offset=(0, 0, 0)):
    """(N, 3) grid positions (mm, z y x, from index ``offset`` on) of a mask's voxels that have
    a 6-neighbour outside it (the whole mask when it is thin)."""
    inner = ndimage.binary_erosion(mask)
    return (np.argwhere(mask & ~inner) + np.asarray(offset)) * np.asarray(spacing, float)[::-1]


def seated_piece(labelled, sizes, spacing, near, offset=(0, 0, 0)):
    """Which piece of a condyle label is the condyle: of its pieces (``labelled``, ``sizes``:
    :func:`pieces`, on a grid of ``spacing``, (x, y, z) mm) at least ``SEATED_FRACTION`` of the
    largest, the one nearest the voxels ``near`` (the temporal bone, on the same grid, its index
    (0, 0, 0) at ``labelled``'s ``offset``): the condyle sits in the fossa, a coronoid process
    labelled alike lies a centimetre or more below the arch. The largest when only one is that
    large or ``near`` is empty; ties go to the larger."""
    largest = int(np.argmax(sizes))
    candidates = np.flatnonzero(sizes >= SEATED_FRACTION * sizes[largest])
    if len(candidates) < 2 or near is None or not np.any(near):
        return largest
    tree = cKDTree(_surface_mm(np.asarray(near, bool), spacing))
    nearest = [tree.query(_surface_mm(labelled == n, spacing, offset), k=1)[0].min()
               for n in candidates]
    return int(candidates[np.lexsort((-sizes[candidates], nearest))[0]])


def join_cracked(mask, spacing, near=None, offset=(0, 0, 0)):
    """The largest piece of ``mask`` (or, given ``near``: :func:`seated_piece`) with every
    piece across a crack from it (a gap at most :func:`crack_voxels` wide on a grid of
    ``spacing``, (x, y, z) mm: a slice skipped when painting, a threshold across a thin roof),
    and the crack's voxels between them; the pieces farther away are left out."""
    mask = np.asarray(mask, bool)
    labelled, sizes = pieces(mask)
    if len(sizes) <= 2:
        return mask
    steps = crack_voxels(spacing)
    union = labelled == seated_piece(labelled, sizes, spacing, near, offset)
    while True:
        found = np.unique(labelled[_near(union, [k + 1 for k in steps]) & ~union])
        found = found[found > 0]
        if not len(found):
            return union
        joined = np.isin(labelled, found)
        union |= joined | (_gap(union, joined, steps) & ~mask)


class Condyle(object):
    """The measured condyle of a label's voxels ``mask`` on a grid of ``spacing`` ((x, y, z)
    mm): ``mask`` (its largest piece, or of large pieces the one nearest the temporal bone's
    voxels ``temporal_bone`` when given, with the pieces a crack away, :func:`join_cracked`,
    cavities and the holes of its slices filled), ``left_out`` (voxels of the other pieces) and
    ``filled`` (voxels added)."""

    def __init__(self, mask, spacing, temporal_bone=None):
        mask = np.asarray(mask, bool)
        self.mask = np.zeros_like(mask)
        box = _box(mask)
        self.left_out = self.filled = 0
        if box is None:
            return
        part = mask[box]   # worked out in the label's box (cracks lie between its pieces)
        joined = join_cracked(part, spacing, temporal_bone, [b.start for b in box])
        self.mask[box] = fill_slice_holes(fill_cavities(joined))
        self.left_out = int((part & ~joined).sum())
        self.filled = int(self.mask[box].sum() - (part & joined).sum())


def temporal_bone(mask, spacing):
    """The temporal bone measured from its label's voxels ``mask`` (boolean, z, y, x) on a grid
    of ``spacing`` ((x, y, z) mm): its largest piece with the pieces a crack away
    (:func:`join_cracked`, the crack's voxels added), enclosed cavities filled; pieces farther
    away are other bone (the region's edge cuts the skull base into pieces; a fragment 3 mm from
    a lost joint's "condyle" read NV 576 mm3 instead of "not this joint's fossa")."""
    mask = np.asarray(mask, bool)
    box = _box(mask)
    if box is None:
        return mask.copy()
    out = np.zeros_like(mask)
    out[box] = fill_cavities(join_cracked(mask[box], spacing))
    return out


def as_measured(roi_arr, mc_mask, mc_value, i0):
    """What turns a side's condyle label (in ``roi_arr``, its ROI starting at index ``i0``,
    x y z) into the condyle measured, so that the label map written (and the segments shown)
    hold the reported condyle volume: [((z, y, x) index arrays on the whole grid, value)] for
    its pieces left out (0) and its filled cavities, holes and cracks (``mc_value``, unlabelled
    voxels only). The temporal bone stays as labelled: the quality gate reads a layer or a
    hollow shell there (``quality.segmentation.solid_bone_reason``)."""
    out = []
    for where, value in (((roi_arr == mc_value) & ~mc_mask, 0), (mc_mask & (roi_arr == 0),
                                                                mc_value)):
        kji = np.nonzero(where)
        if len(kji[0]):
            out.append(((kji[0] + i0[2], kji[1] + i0[1], kji[2] + i0[0]), value))
    return out
