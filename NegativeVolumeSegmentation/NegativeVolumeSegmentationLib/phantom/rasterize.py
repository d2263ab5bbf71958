"""Evaluate implicit shapes on the CT grid, each primitive only inside its own bounding box.

``field(shape, grid, box)`` returns f (mm, float32) on the voxels of ``box`` (numpy slices z, y,
x of :class:`.grid.Grid`); composites (union, intersection, difference, offset) recurse into
their children on the overlap of the child's box with ``box`` and use ``shapes.FAR`` outside it,
as :func:`.shapes.evaluate_culled` does for point lists: both give the same f wherever
|f| < MARGIN - blend (they differ only in how far-away values are blended), hence the same signs
and the same partial-volume edges.
``prune(shape, lo, hi)`` drops the parts of a composite that cannot reach the head-frame box.
"""

import numpy as np

from . import shapes as S


def _overlap(grid, box, shape):
    """Slices of ``box`` covered by the shape's box, relative (into box) and absolute."""
    sub = grid.index_box(shape.lo, shape.hi)
    if sub is None:
        return None, None
    absolute, relative = [], []
    for a, b in zip(box, sub):
        start, stop = max(a.start, b.start), min(a.stop, b.stop)
        if stop <= start:
            return None, None
        absolute.append(slice(start, stop))
        relative.append(slice(start - a.start, stop - a.start))
    return tuple(relative), tuple(absolute)


def field(shape, grid, box):
    """f of ``shape`` on the voxels of ``box`` (float32 array of the box's shape)."""
    shape_of_box = tuple(s.stop - s.start for s in box)
    if isinstance(shape, S.Union):
        out = np.full(shape_of_box, S.FAR, np.float32)
        for child in shape.shapes:
            rel, sub = _overlap(grid, box, child)
            if rel is not None:
                out[rel] = S.smooth_min(out[rel], field(child, grid, sub), shape.blend)
        return out
    if isinstance(shape, S.Intersection):
        out = np.full(shape_of_box, -np.inf, np.float32)
        for child in shape.shapes:
            if not np.all(np.isfinite(child.lo)):
                out = np.maximum(out, field(child, grid, box))
                continue
            rel, sub = _overlap(grid, box, child)
            covered = np.zeros(shape_of_box, bool)
            if rel is not None:
                out[rel] = np.maximum(out[rel], field(child, grid, sub))
                covered[rel] = True
            out[~covered] = np.maximum(out[~covered], S.FAR)
        return out
    if isinstance(shape, S.Difference):
        out = field(shape.base, grid, box)
        for hole in shape.holes:
            rel, sub = _overlap(grid, box, hole)
            if rel is not None:
                out[rel] = np.maximum(out[rel], -field(hole, grid, sub))
        return np.maximum(out, -S.FAR) if shape.holes else out
    if isinstance(shape, S.Offset):
        return field(shape.shape, grid, box) - np.float32(shape.d)
    x, y, z = grid.head_coordinates(box)
    return shape.f(x, y, z).astype(np.float32)


def _boxes_meet(shape, lo, hi):
    return bool(np.all(shape.lo <= hi) and np.all(shape.hi >= lo))


def prune(shape, lo, hi):
    """A copy of ``shape`` without the union members / holes whose boxes miss [lo, hi] (mm)."""
    if isinstance(shape, S.Union):
        kept = [prune(c, lo, hi) for c in shape.shapes if _boxes_meet(c, lo, hi)]
        return S.Union(kept, shape.blend) if kept else S.Union(shape.shapes[:1], shape.blend)
    if isinstance(shape, S.Difference):
        holes = [h for h in shape.holes if _boxes_meet(h, lo, hi)]
        return S.Difference(prune(shape.base, lo, hi), holes)
    if isinstance(shape, S.Intersection):
        return S.Intersection([prune(c, lo, hi) for c in shape.shapes])
    return shape
