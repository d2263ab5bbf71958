"""Inflation length: how far each condyle (MC) vertex travels along its normal before the TB.

For every MC vertex x with outward unit normal n(x) the ray x + t n(x), 0 < t <= max_distance, is
cast against the temporal-bone (TB) surface with one VTK cell locator built once. h(x) = t of the
first hit (mm). Modes:

- ``confined`` (default): a ray that meets no TB gives h = 0 (that part of the condyle does not
  face the fossa).
- ``paper`` (Belikova et al. 2021): h = min(hit, max_distance) everywhere.

A first hit on a TB face whose outward normal points along the ray means the ray starts inside
the TB (the bones touch or overlap): h = 0 there. A first hit more than ``MAX_INCIDENCE_DEG`` from
the face's normal grazes the TB's rim and counts as a miss. Rays that cannot come near any TB
vertex (:func:`_rays_that_may_hit`) are skipped without a locator query.
"""

import numpy as np
from scipy.spatial import cKDTree
from vtkmodules.vtkCommonCore import mutable, vtkIdList, vtkPoints
from vtkmodules.vtkCommonDataModel import (vtkCellLocator, vtkGenericCell,
                                           vtkStaticCellLocator)
from vtkmodules.vtkFiltersFlowPaths import vtkModifiedBSPTree
from vtkmodules.vtkFiltersGeneral import vtkOBBTree

from . import surfaces

MODES = ("confined", "paper")
# A ray meeting the TB surface at more than this angle from its normal only grazes the bone's
# rim (in a voxelised mask the rim sticks out half a voxel past the last bone voxel centre);
# such a hit is not a stop: it counts as a miss. Measured (docs/method.md): 85 degrees halves the
# rim overcount on the analytic cap and costs nothing on the head phantom; 75-80 degrees removes
# more of the rim but drops true oblique contacts on the head phantom (up to -11 % NV).
MAX_INCIDENCE_DEG = 85.0
GRAZING_COS = float(np.cos(np.radians(MAX_INCIDENCE_DEG)))
DEFAULT_MAX_DISTANCE_MM = 10.0
RAY_START_MM = 1e-4  # rays start just off the MC surface so they never hit at t = 0 by rounding

LOCATORS = {
    "static": vtkStaticCellLocator,
    "cell": vtkCellLocator,
    "obb": vtkOBBTree,
    "bsp": vtkModifiedBSPTree,
}
DEFAULT_LOCATOR = "cell"  # fastest in benchmarks/bench_negative_volume.py --locators (static close)


def build_locator(poly, kind=DEFAULT_LOCATOR):
    """A cell locator of ``kind`` (static, cell, obb, bsp) built once over ``poly``."""
    loc = LOCATORS[kind]()
    loc.SetDataSet(poly)
    if kind in ("static", "cell"):
        loc.SetNumberOfCellsPerNode(8)
    loc.BuildLocator()
    return loc


def _first_hit(locator, kind, p1, p2):
    """(t in [0, 1], cell id) of the first intersection of segment p1-p2, or None."""
    if kind == "obb":
        pts = vtkPoints()
        ids = vtkIdList()
        if locator.IntersectWithLine(p1, p2, pts, ids) == 0 or pts.GetNumberOfPoints() == 0:
            return None
        hit = np.asarray(pts.GetPoint(0))
        seg = np.asarray(p2) - np.asarray(p1)
        return float(np.dot(hit - p1, seg) / np.dot(seg, seg)), ids.GetId(0)
    t = mutable(0.0)
    x = [0.0, 0.0, 0.0]
    pcoords = [0.0, 0.0, 0.0]
    sub_id = mutable(0)
    cell_id = mutable(0)
    if kind == "bsp":
        cell = vtkGenericCell()
        found = locator.IntersectWithLine(p1, p2, 0.0, t, x, pcoords, sub_id, cell_id, cell)
    else:
        found = locator.IntersectWithLine(p1, p2, 0.0, t, x, pcoords, sub_id, cell_id)
    if not found:
        return None
    return float(t), int(cell_id)


def _rays_that_may_hit(pts, nrm, tb_pts, tb_tri, max_distance, pieces=6):
    """Indices of the rays x + t n (0 < t <= max_distance) that can meet the TB mesh at all.

    The segment is covered by ``pieces`` balls of radius max_distance / (2 pieces); a hit point
    lies on a TB triangle, within its longest edge of a TB vertex, so a ray whose balls hold no
    TB vertex within radius + longest edge cannot hit. One vectorised k-d tree query per ball.
    """
    edge = 0.0
    if len(tb_tri):
        e = tb_pts[tb_tri] - tb_pts[np.roll(tb_tri, 1, axis=1)]
        edge = float(np.sqrt(np.max(np.sum(e * e, axis=2))))
    radius = max_distance / (2.0 * pieces)
    tree = cKDTree(tb_pts)
    may = np.zeros(len(pts), bool)
    for k in range(pieces):
        todo = np.nonzero(~may)[0]
        if len(todo) == 0:
            break
        centres = pts[todo] + ((2 * k + 1) * radius) * nrm[todo]
        dist, _ = tree.query(centres, k=1, distance_upper_bound=radius + edge + 1e-6)
        may[todo[np.isfinite(dist)]] = True
    return np.nonzero(may)[0]


class TemporalBoneRays(object):
    """Ray queries against one TB mesh: the locator and face normals are built once.

    :meth:`lengths` gives, for rays x + t n (0 < t <= max_distance), the first-hit length and
    whether the ray met the TB, with the contact and grazing rules of the module docstring.
    """

    def __init__(self, tb_poly, locator=DEFAULT_LOCATOR):
        self.kind = locator
        self.points = surfaces.points(tb_poly)
        self.triangles = surfaces.triangles(tb_poly)
        self.face_normals = surfaces.cell_normals(tb_poly)
        self.locator = build_locator(tb_poly, locator)

    def lengths(self, starts, directions, max_distance, candidates=None):
        """(h, hit) per ray: h in mm (0 on a miss or from inside the TB), hit a bool array.

        ``candidates``: indices of the rays to cast (the others are misses); all when None.
        """
        h = np.zeros(len(starts))
        hit = np.zeros(len(starts), bool)
        length = max_distance - RAY_START_MM
        todo = range(len(starts)) if candidates is None else candidates
        for i in todo:
            start = starts[i] + RAY_START_MM * directions[i]
            found = _first_hit(self.locator, self.kind, start, start + length * directions[i])
            if found is None:
                continue
            t, cell = found
            facing = np.dot(self.face_normals[cell], directions[i])
            if facing > 0:  # leaving the TB: the ray started inside it
                hit[i] = True
            elif facing <= -GRAZING_COS:
                hit[i] = True
                h[i] = RAY_START_MM + t * length
        return h, hit


def inflation_lengths(mc_poly, tb_poly, max_distance=DEFAULT_MAX_DISTANCE_MM, mode="confined",
                      locator=DEFAULT_LOCATOR, rays=None):
    """Per-vertex inflation length h (mm) of the MC mesh against the TB mesh.

    Args:
        mc_poly, tb_poly: meshes from :func:`surfaces.mask_surface` (LPS mm, outward normals).
        max_distance: longest ray (mm).
        mode: "confined" or "paper" (see module docstring).
        locator: which VTK locator answers the ray queries (static, cell, obb, bsp).
        rays: a :class:`TemporalBoneRays` of ``tb_poly`` to reuse (built when None).

    Returns:
        (h, hit): float array of h per MC vertex (mm) and a bool array, True where the ray met the
        TB within max_distance (contact from inside counts as a hit with h = 0).
    """
    if mode not in MODES:
        raise ValueError("unknown inflation mode %r (expected confined or paper)" % (mode,))
    pts = surfaces.points(mc_poly)
    nrm = surfaces.point_normals(mc_poly)
    h = np.zeros(len(pts))
    hit = np.zeros(len(pts), bool)
    if tb_poly is not None and tb_poly.GetNumberOfPoints() > 0:
        rays = rays or TemporalBoneRays(tb_poly, locator)
        candidates = _rays_that_may_hit(pts, nrm, rays.points, rays.triangles, max_distance)
        h, hit = rays.lengths(pts, nrm, max_distance, candidates)
    if mode == "paper":
        h = np.where(hit, np.minimum(h, max_distance), max_distance)
    return h, hit
