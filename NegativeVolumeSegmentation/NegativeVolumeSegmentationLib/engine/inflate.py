"""Inflation length: how far each condyle (MC) vertex travels along its normal before the TB.

For every MC vertex x with outward unit normal n(x) the ray x + t n(x), 0 < t <= max_distance, is
cast against the temporal-bone (TB) surface. h(x) = t of the first (nearest) hit (mm). Modes:

- ``confined`` (default): a ray that meets no TB gives h = 0 (that part of the condyle does not
  face the fossa).
- ``paper`` (Belikova et al. 2021): h = min(hit, max_distance) everywhere.

A first hit on a TB face whose outward normal points along the ray means the ray starts inside
the TB (the bones touch or overlap): h = 0 there. A first hit more than ``MAX_INCIDENCE_DEG`` from
the face's normal grazes the TB's rim and counts as a miss. With a VTK locator, rays that cannot
come near any TB vertex (:func:`_rays_that_may_hit`) are skipped without a query.

The rays are cast by :class:`TriangleRayCaster` (default locator ``"numpy"``): Moller-Trumbore
ray/triangle tests, vectorised in numpy, over the TB triangles a k-d tree of triangle centroids
puts near each stretch of the ray, stretch after stretch, so the nearest hit is found on every
VTK version (checked against a brute-force solve over all triangles in
Testing/engine/test_vtk_versions.py). VTK's own locators (``static``, ``cell``, ``obb``,
``bsp``) stay selectable, but before VTK 9.3.1 ``vtkCellLocator::IntersectWithLine`` returned some hit along the segment, not
the nearest (VTK commit 9487b2a6, January 2024): a hit on the far side of the TB then reads as
"the ray starts inside the bone" (h = 0).
"""

import itertools

import numpy as np
from scipy.spatial import cKDTree
from vtkmodules.vtkCommonCore import mutable, vtkIdList, vtkPoints
from vtkmodules.vtkCommonDataModel import (vtkCellLocator, vtkGenericCell,
                                           vtkStaticCellLocator)
from vtkmodules.vtkFiltersFlowPaths import vtkModifiedBSPTree
from vtkmodules.vtkFiltersGeneral import vtkOBBTree

from . import surfaces
from .distance_bounds import DistanceBounds
from ..options import DEFAULTS

MODES = ("confined", "bounded", "paper")  # bounded: rays as confined, region bounded (joint_bounds)
# A ray meeting the TB surface at more than this angle from its normal only grazes the bone's
# rim (in a voxelised mask the rim sticks out half a voxel past the last bone voxel centre);
# such a hit is not a stop: it counts as a miss. Measured (docs/method.md): 85 degrees halves the
# rim overcount on the analytic cap and costs nothing on the head phantom; 75-80 degrees removes
# more of the rim but drops true oblique contacts on the head phantom (up to -11 % NV).
MAX_INCIDENCE_DEG = 85.0
GRAZING_COS = float(np.cos(np.radians(MAX_INCIDENCE_DEG)))
DEFAULT_MAX_DISTANCE_MM = DEFAULTS["max_distance_mm"]   # mm; one place: options.py
RAY_START_MM = 1e-4  # rays start just off the MC surface so they never hit at t = 0 by rounding

LOCATORS = {
    "static": vtkStaticCellLocator,
    "cell": vtkCellLocator,
    "obb": vtkOBBTree,
    "bsp": vtkModifiedBSPTree,
}
NUMPY_LOCATOR = "numpy"
LOCATOR_KINDS = (NUMPY_LOCATOR,) + tuple(sorted(LOCATORS))
DEFAULT_LOCATOR = NUMPY_LOCATOR  # the same nearest hit on every VTK version (module docstring)
# Rays are searched stretch by stretch; a stretch is twice the triangles' reach (centroid to
# farthest corner), within these bounds (mm).
MIN_STRETCH_MM = 0.25
MAX_STRETCH_MM = 2.0
# Cells of the centroids' distance map that empty-space jumps read (mm). The bench case's rays:
# 1.07 s with 0.5 mm, 1.21 s with 1 mm, 1.81 s with a k-d tree query per step instead.
FREE_SPACE_CELL_MM = 0.5
BARYCENTRIC_TOLERANCE = 1e-9  # a ray through a shared edge or vertex hits (no leak between faces)


def _cross(a, b):
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _dot(a, b):
    return np.einsum("ij,ij->i", a, b)


class TriangleRayCaster(object):
    """Nearest ray / triangle-mesh intersections, vectorised in numpy (LPS mm).

    Moller and Trumbore (1997) on candidate triangles, walking each ray from t = 0 to ``length``
    with a k-d tree of triangle centroids. With ``reach`` the mesh's largest centroid-to-corner
    distance, every point of a triangle lies within ``reach`` of its centroid, so from a point
    whose nearest centroid is at least D away no hit is closer than D - reach: the ray jumps
    that far (empty space). D is a lower bound read from a distance map of the centroids on
    cells of ``FREE_SPACE_CELL_MM`` (:mod:`.distance_bounds`: a look-up instead of a k-d tree
    query, slow far from a mesh). Near the mesh it searches a stretch (about 2 x reach long): a
    triangle the stretch crosses has its centroid within half the stretch + reach of the
    stretch's middle, so one ball query gives every candidate. The ray stops at the first stretch holding a hit, at
    the smallest t found: nothing before the stretch was hit and every triangle crossing the
    stretch was tested, so it is the nearest hit.
    """

    def __init__(self, pts, tri):
        pts = np.asarray(pts, float)
        tri = np.asarray(tri, np.int64)
        self.corner = pts[tri[:, 0]]
        self.edge1 = pts[tri[:, 1]] - self.corner
        self.edge2 = pts[tri[:, 2]] - self.corner
        centroid = (3.0 * self.corner + self.edge1 + self.edge2) / 3.0
        reach = np.zeros(len(tri))
        for k in range(3):
            reach = np.maximum(reach, np.linalg.norm(pts[tri[:, k]] - centroid, axis=1))
        self.reach = float(reach.max()) if len(tri) else 0.0
        self.edge_scale = np.linalg.norm(self.edge1, axis=1) * np.linalg.norm(self.edge2, axis=1)
        self.tree = cKDTree(centroid) if len(tri) else None
        # Stretch length: 2 x reach minimises the candidate pairs per mm of ray.
        self.stretch = float(np.clip(2.0 * self.reach, MIN_STRETCH_MM, MAX_STRETCH_MM))
        # lower bounds of the distance to the centroids, for the jumps through empty space
        self.free_space = DistanceBounds(centroid, FREE_SPACE_CELL_MM) if len(tri) else None

    def free_distance(self, points):
        """Lower bound (mm) of the distance from each point (LPS mm) to every triangle
        centroid (:class:`.distance_bounds.DistanceBounds`)."""
        return self.free_space.lower(points)

    def intersect(self, origins, directions, rays, triangles):
        """Parameter t (mm along the unit direction) of ray ``rays[i]`` meeting triangle
        ``triangles[i]``; inf where they do not meet (parallel, outside, or behind)."""
        d = directions[rays]
        e1, e2 = self.edge1[triangles], self.edge2[triangles]
        p = _cross(d, e2)
        det = _dot(e1, p)
        ok = np.abs(det) > 1e-12 * self.edge_scale[triangles]
        inv = 1.0 / np.where(ok, det, 1.0)
        s = origins[rays] - self.corner[triangles]
        u = _dot(s, p) * inv
        q = _cross(s, e1)
        v = _dot(d, q) * inv
        t = _dot(e2, q) * inv
        tol = BARYCENTRIC_TOLERANCE
        ok &= (u >= -tol) & (v >= -tol) & (u + v <= 1.0 + tol) & (t >= 0.0)
        return np.where(ok, t, np.inf)

    def _candidates(self, centres, radius):
        """(query index, triangle index) pairs: centroids within ``radius`` of each centre."""
        near = self.tree.query_ball_point(centres, radius, workers=-1)  # all cores
        counts = np.fromiter((len(x) for x in near), np.int64, len(near))
        total = int(counts.sum())
        rows = np.repeat(np.arange(len(centres)), counts)
        cols = np.fromiter(itertools.chain.from_iterable(near), np.int64, total)
        return rows, cols

    def first_hits(self, origins, directions, length):
        """(t, triangle) of the nearest hit with 0 <= t <= ``length`` (mm) of each ray
        ``origins + t directions`` (unit directions); t = inf and triangle = -1 on a miss."""
        origins = np.asarray(origins, float).reshape(-1, 3)
        directions = np.asarray(directions, float).reshape(-1, 3)
        n = len(origins)
        best_t = np.full(n, np.inf)
        best_tri = np.full(n, -1, np.int64)
        if self.tree is None or n == 0 or not length > 0:
            return best_t, best_tri
        step, reach = self.stretch, self.reach
        t_at = np.zeros(n)  # no hit before t_at (mm) on each active ray
        active = np.arange(n)
        while len(active):
            here = origins[active] + t_at[active, None] * directions[active]
            # Empty space: no hit closer than (nearest centroid - reach); jump there.
            free = self.free_distance(here) - reach
            jump = free > 0.5 * step
            t_at[active[jump]] += free[jump]
            near = active[~jump]
            done = np.zeros(len(near), bool)
            if len(near):
                lo = t_at[near]
                hi = np.minimum(lo + step, length)
                centres = origins[near] + (0.5 * (lo + hi))[:, None] * directions[near]
                rows, tris = self._candidates(centres, 0.5 * step + reach + 1e-9)
                if len(rows):
                    rays = near[rows]
                    t = self.intersect(origins, directions, rays, tris)
                    met = t <= np.minimum(hi[rows] + 1e-12, length)
                    rows, rays, tris, t = rows[met], rays[met], tris[met], t[met]
                    order = np.lexsort((tris, t, rays))  # per ray: smallest t, then lowest id
                    rows, rays, tris, t = rows[order], rays[order], tris[order], t[order]
                    first = np.ones(len(rays), bool)
                    first[1:] = rays[1:] != rays[:-1]
                    best_t[rays[first]] = t[first]
                    best_tri[rays[first]] = tris[first]
                    done[rows[first]] = True
                t_at[near] = np.where(hi >= length, np.inf, hi)  # searched up to hi
            active = active[(best_tri[active] < 0) & (t_at[active] < length)]
        return best_t, best_tri


def build_locator(poly, kind=DEFAULT_LOCATOR):
    """A locator of ``kind`` built once over ``poly``: :class:`TriangleRayCaster` for "numpy",
    else the VTK cell locator of that name (static, cell, obb, bsp)."""
    if kind == NUMPY_LOCATOR:
        return TriangleRayCaster(surfaces.points(poly), surfaces.triangles(poly))
    if kind not in LOCATORS:
        raise ValueError("unknown locator %r (expected one of %s)"
                         % (kind, ", ".join(LOCATOR_KINDS)))
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

        ``starts`` (LPS mm) and unit ``directions`` are (N, 3) arrays; ``candidates``: indices of
        the rays to cast (the others are misses); all when None.
        """
        starts = np.asarray(starts, float).reshape(-1, 3)
        directions = np.asarray(directions, float).reshape(-1, 3)
        h = np.zeros(len(starts))
        hit = np.zeros(len(starts), bool)
        length = max_distance - RAY_START_MM
        todo = np.arange(len(starts)) if candidates is None else np.asarray(candidates, np.int64)
        if self.kind == NUMPY_LOCATOR:
            if len(todo) == 0:
                return h, hit
            t, cell = self.locator.first_hits(starts[todo] + RAY_START_MM * directions[todo],
                                              directions[todo], length)
            met = cell >= 0
            todo, t, cell = todo[met], t[met], cell[met]
            facing = np.einsum("ij,ij->i", self.face_normals[cell], directions[todo])
            inside = facing > 0  # leaving the TB: the ray started inside it
            hit[todo[inside]] = True
            stop = facing <= -GRAZING_COS
            hit[todo[stop]] = True
            h[todo[stop]] = RAY_START_MM + t[stop]
            return h, hit
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


def inflation_lengths(mc_poly, tb_poly, max_distance=DEFAULT_MAX_DISTANCE_MM,
                      mode=DEFAULTS["mode"], locator=DEFAULT_LOCATOR, rays=None):
    """Per-vertex inflation length h (mm) of the MC mesh against the TB mesh.

    Args:
        mc_poly, tb_poly: meshes from :func:`surfaces.mask_surface` (LPS mm, outward normals).
        max_distance: longest ray (mm).
        mode: "confined" / "bounded" (a miss gives 0) or "paper" (see module docstring).
        locator: what answers the ray queries: "numpy" (:class:`TriangleRayCaster`, default) or
            a VTK locator (static, cell, obb, bsp; see the module docstring).
        rays: a :class:`TemporalBoneRays` of ``tb_poly`` to reuse (built when None).

    Returns:
        (h, hit): float array of h per MC vertex (mm) and a bool array, True where the ray met the
        TB within max_distance (contact from inside counts as a hit with h = 0).
    """
    if mode not in MODES:
        raise ValueError("unknown inflation mode %r (expected %s)" % (mode, ", ".join(MODES)))
    pts = surfaces.points(mc_poly)
    nrm = surfaces.point_normals(mc_poly)
    h = np.zeros(len(pts))
    hit = np.zeros(len(pts), bool)
    if tb_poly is not None and tb_poly.GetNumberOfPoints() > 0:
        rays = rays or TemporalBoneRays(tb_poly, locator)
        candidates = None  # the numpy caster skips empty space itself
        if rays.kind != NUMPY_LOCATOR:  # VTK locators: one Python call per ray, filter first
            candidates = _rays_that_may_hit(pts, nrm, rays.points, rays.triangles, max_distance)
        h, hit = rays.lengths(pts, nrm, max_distance, candidates)
    if mode == "paper":
        h = np.where(hit, np.minimum(h, max_distance), max_distance)
    return h, hit
