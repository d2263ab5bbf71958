"""Joint space of one TMJ: the negative-volume (NV) voxel mask and the thickness numbers.

Given the condyle (MC) mesh with its inflation lengths h (mm, :mod:`.inflate`), a voxel centre p
outside the MC and TB masks belongs to the NV when, with x(p) the MC-surface point nearest to p,
0 < d(p) = (p - x) . n(x) <= h(x). x, n and h are interpolated linearly (barycentric) over the
mesh triangle nearest to p, so neighbouring rays of very different lengths still bound a
watertight region. Points are LPS mm, the mask lives on the label map's own grid.
"""

import numpy as np
from scipy.spatial import cKDTree
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkPolyData

from . import surfaces
from .distance_bounds import DistanceBounds

THICKNESS_ARRAY = "JointSpaceThickness_mm"
KD_LEAF_SIZE = 64  # ~2x faster nearest-vertex queries than scipy's 16 for voxels mm off the mesh


def _vertex_triangles(tri, n_points):
    """(N, V) table of the triangles around each vertex, padded with -1."""
    owners = tri.ravel()
    faces = np.repeat(np.arange(len(tri)), 3)
    order = np.argsort(owners, kind="stable")
    owners, faces = owners[order], faces[order]
    counts = np.bincount(owners, minlength=n_points)
    table = np.full((n_points, max(int(counts.max()), 1)), -1, np.int64)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(owners)) - start[owners]
    table[owners, slot] = faces
    return table


def _index_grid(image):
    """(direction * spacing) matrix and origin: physical = M @ index + origin."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    return direction * np.asarray(image.GetSpacing(), float)[None, :], np.asarray(
        image.GetOrigin(), float)


def _index_box(image, lo_mm, hi_mm):
    """Index range [i0, i1) (x, y, z order) of the voxels inside a physical box, clipped."""
    mat, origin = _index_grid(image)
    corners = np.array([[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1])
                        for z in (lo_mm[2], hi_mm[2])])
    idx = np.linalg.solve(mat, (corners - origin).T).T
    size = np.asarray(image.GetSize())
    i0 = np.clip(np.floor(idx.min(axis=0)).astype(int), 0, size)
    i1 = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 1, 0, size)
    return i0, i1


class _TriangleFrames(object):
    """Per-triangle constants of the barycentric projection: corner a, edges e0 = b - a,
    e1 = c - a, and the inverse Gram matrix terms (computed once per mesh, not per voxel)."""

    def __init__(self, verts, tri):
        a = verts[tri[:, 0]]
        self.a, self.e0, self.e1 = a, verts[tri[:, 1]] - a, verts[tri[:, 2]] - a
        d00 = np.einsum("ti,ti->t", self.e0, self.e0)
        d01 = np.einsum("ti,ti->t", self.e0, self.e1)
        d11 = np.einsum("ti,ti->t", self.e1, self.e1)
        den = d00 * d11 - d01 * d01
        inv = 1.0 / np.where(np.abs(den) > 1e-20, den, 1e-20)
        self.d00, self.d01, self.d11 = d00 * inv, d01 * inv, d11 * inv


INTERPOLATION_CHUNK = 16384  # query points per block: keeps the (Q, V, 3) temporaries in cache


def interpolate_on_surface(query, verts, normals, values, tri, vertex_tris, nearest=None):
    """Nearest-surface interpolation of per-vertex ``values`` at LPS ``query`` points.

    For each point: its nearest vertex, then among that vertex's triangles the one whose plane
    projection of the point is most inside (largest smallest barycentric coordinate); the
    barycentric weights (clipped to the triangle) interpolate position, normal and value.
    ``nearest`` (index of each point's nearest vertex) is computed when not given.
    Returns (d, value, foot, normal): signed distance along the interpolated normal (mm), the
    interpolated value (``values`` may be (N,) or (N, k)), the foot point x(p) and unit normal.
    """
    if nearest is None:
        _, nearest = cKDTree(verts).query(query, k=1)
    frames = _TriangleFrames(verts, tri)
    d = np.empty(len(query))
    val = np.empty((len(query),) + values.shape[1:])
    foot = np.empty((len(query), 3))
    nrm = np.empty((len(query), 3))
    for s in range(0, len(query), INTERPOLATION_CHUNK):
        block = slice(s, s + INTERPOLATION_CHUNK)
        d[block], val[block], foot[block], nrm[block] = _interpolate_block(
            query[block], nearest[block], verts, normals, values, tri, vertex_tris, frames)
    return d, val, foot, nrm


def _interpolate_block(query, nearest, verts, normals, values, tri, vertex_tris, frames):
    cand = vertex_tris[nearest]  # (Q, V) triangles around each point's nearest vertex
    valid = cand >= 0
    cand = np.where(valid, cand, 0)
    w = query[:, None, :] - frames.a[cand]
    d20 = np.einsum("qvi,qvi->qv", w, frames.e0[cand])
    d21 = np.einsum("qvi,qvi->qv", w, frames.e1[cand])
    v = frames.d11[cand] * d20 - frames.d01[cand] * d21
    wgt = frames.d00[cand] * d21 - frames.d01[cand] * d20
    u = 1.0 - v - wgt
    score = np.where(valid, np.minimum(np.minimum(u, v), wgt), -np.inf)
    best = np.argmax(score, axis=1)
    rows = np.arange(len(query))
    bary = np.stack([u[rows, best], v[rows, best], wgt[rows, best]], axis=1)
    bary = np.clip(bary, 0.0, None)
    bary /= np.maximum(bary.sum(axis=1, keepdims=True), 1e-12)
    corner = tri[cand[rows, best]]  # (Q, 3)
    pos = np.einsum("qk,qki->qi", bary, verts[corner])
    nrm = np.einsum("qk,qki->qi", bary, normals[corner])
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    val = np.einsum("qk,qk...->q...", bary, values[corner])
    return np.einsum("qi,qi->q", query - pos, nrm), val, pos, nrm


BOUNDS_CELL_MM = 0.5  # cells of the distance maps of _surely_not_kept (0.3 mm: no faster)


def _surely_not_kept(query, verts, with_rays, reach):
    """Per query point (LPS mm), True where its nearest vertex is surely one whose triangles'
    rays all have length 0 (an upper bound of the distance to all vertices below a lower bound of
    the distance to those ``with_rays``), or surely farther than ``reach`` mm: such a point is
    not NV, and the exact k-d tree query is not needed (:mod:`.distance_bounds`; on the bench
    case 38-47 % of the points, 0.45 s)."""
    lo, hi = query.min(axis=0), query.max(axis=0)
    every = DistanceBounds(verts, BOUNDS_CELL_MM, lo, hi)
    rayed = DistanceBounds(verts[with_rays], BOUNDS_CELL_MM, lo, hi)
    return (every.upper(query) < rayed.lower(query)) | (every.lower(query) > reach)


def negative_volume_mask(image, mc_mask, tb_mask, mc_poly, h, hit, rays, max_distance,
                         miss_length=0.0, clip_box=None, region=None, facing=None):
    """Boolean NV mask (numpy z, y, x) on ``image``'s grid.

    A voxel whose foot x(p) lies on a triangle whose corners all met the TB (or all missed it)
    takes h(x) interpolated from the corners. At the rim of the contact region (corners that hit
    and corners that missed) linear interpolation would taper h across a whole mesh edge past the
    TB's rim; there the ray x(p) + t n(p) itself is cast against the TB, which puts the rim where
    the TB surface ends (measured on the analytic cap: docs/method.md).

    Args:
        image: SimpleITK image defining the grid (origin, spacing, direction).
        mc_mask, tb_mask: boolean (z, y, x) arrays of the condyle and temporal bone.
        mc_poly: MC mesh (LPS mm, outward point normals); ``h`` its per-vertex lengths (mm) and
            ``hit`` whether each vertex's ray met the TB (:func:`.inflate.inflation_lengths`).
        rays: :class:`.inflate.TemporalBoneRays` of the TB mesh; ``max_distance`` the longest ray.
        miss_length: length given to a rim ray that misses the TB (0 in confined mode,
            max_distance in the paper's mode).
        clip_box: optional (lo, hi) LPS mm box the NV is clipped to (paper mode's cube).
        region: optional callable, LPS points (N, 3) -> bool, the NV is clipped to (the bounded
            joint region between the condylar poles, :meth:`.joint_bounds.JointBounds.contains`).
        facing: optional boolean per MC vertex: a point counts only when the vertex nearest to it
            faces the joint (:meth:`.joint_bounds.JointBounds.facing_cap`; as the phantom truth
            decides by its nearest surface sample).
    """
    nv = np.zeros(mc_mask.shape, bool)
    verts = surfaces.points(mc_poly)
    normals = surfaces.point_normals(mc_poly)
    active = h > 0
    if not np.any(active):
        return nv
    tips = verts[active] + h[active, None] * normals[active]
    ends = np.vstack([verts[active], tips])
    lo, hi = ends.min(axis=0), ends.max(axis=0)
    if clip_box is not None:
        lo, hi = np.maximum(lo, clip_box[0]), np.minimum(hi, clip_box[1])
        if np.any(lo > hi):
            return nv
    i0, i1 = _index_box(image, lo, hi)
    if np.any(i1 <= i0):
        return nv
    sub = (slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))
    free = ~(mc_mask[sub] | tb_mask[sub])
    kk, jj, ii = np.nonzero(free)
    idx = np.stack([ii + i0[0], jj + i0[1], kk + i0[2]], axis=1).astype(float)
    mat, origin = _index_grid(image)
    query = idx @ mat.T + origin
    if clip_box is not None:
        inside = np.all((query >= clip_box[0]) & (query <= clip_box[1]), axis=1)
        query, kk, jj, ii = query[inside], kk[inside], jj[inside], ii[inside]
    if region is not None:
        inside = region(query)
        query, kk, jj, ii = query[inside], kk[inside], jj[inside], ii[inside]
    if len(query) == 0:
        return nv
    tri = surfaces.triangles(mc_poly)
    vertex_tris = _vertex_triangles(tri, len(verts))
    # Cheap pre-filter: farther from the nearest vertex than the longest ray around it + an edge.
    edge = np.linalg.norm(verts[tri[:, 0]] - verts[tri[:, 1]], axis=1).max()
    ring_max = np.zeros(len(verts))
    np.maximum.at(ring_max, tri.ravel(), np.repeat(h[tri].max(axis=1), 3))
    # The nearest vertex decides: keep points within the longest ray around it (+ an edge).
    # First, without a k-d tree query, the points surely nearer to the vertices without rays
    # than to those with, or beyond the longest ray (:func:`_surely_not_kept`).
    reach = float(h.max()) + edge
    maybe = ~_surely_not_kept(query, verts, ring_max > 0, reach)
    query, kk, jj, ii = query[maybe], kk[maybe], jj[maybe], ii[maybe]
    dist, nearest = cKDTree(verts, leafsize=KD_LEAF_SIZE).query(
        query, k=1, distance_upper_bound=reach, workers=-1)  # all cores
    found = np.isfinite(dist)
    nearest = np.where(found, nearest, 0)
    keep = found & (ring_max[nearest] > 0) & (dist <= ring_max[nearest] + edge)
    query, kk, jj, ii = query[keep], kk[keep], jj[keep], ii[keep]
    if len(query) == 0:
        return nv
    d, at, foot, foot_normal = interpolate_on_surface(
        query, verts, normals, np.stack([h, hit.astype(float)], axis=1), tri, vertex_tris,
        nearest[keep])
    h_at, hit_at = at[:, 0], at[:, 1]
    if facing is not None:  # nearest to a part of the condyle that does not face the joint
        d = np.where(facing[nearest[keep]], d, -1.0)
    rim = np.nonzero((hit_at > 1e-9) & (hit_at < 1.0 - 1e-9) & (d > 0))[0]
    if len(rim):
        h_rim, hit_rim = rays.lengths(foot[rim], foot_normal[rim], max_distance)
        h_at[rim] = np.where(hit_rim, h_rim, miss_length)
    inside = (d > 0) & (d <= h_at)
    block = np.zeros(free.shape, bool)
    block[kk[inside], jj[inside], ii[inside]] = True
    nv[sub] = block
    return nv


def thickness_statistics(h, hit):
    """(min, mean) joint-space thickness in mm over the vertices whose ray met the TB."""
    if not np.any(hit):
        return None, None
    return float(np.min(h[hit])), float(np.mean(h[hit]))


# Anterior / posterior: the median h over the profile's points seen from the apex within this of
# the tangent direction, in a sagittal slab this thick either side of the centre. One vertex at
# the tangent point jumped with the frame: the real head's right joint read 3.13 / 4.85 mm, and
# 3.93 / 3.86 mm with the left-right axis turned by 0.5 degrees; with the band 2.78-2.80 /
# 4.03-4.15 mm over +-1 degree (docs/method.md, "Ikeda's spaces")
TANGENT_BAND_DEG = 2.0
PROFILE_HALF_MM = 1.0
IKEDA_MAX_TILT_DEG = 20.0  # the apex-to-centre line may lean this far off the scan's vertical
#                            (dental CBCT map pitched by -10 degrees: 16); beyond, the scan's


def ikeda_spaces(mc_poly, h, hit, centre_lps, lateral=(1.0, 0.0, 0.0), apex=None):
    """Superior / anterior / posterior joint spaces (mm) after Ikeda and Kawamura (2009), read in
    the condyle's central sagittal profile from the fossa apex, so that a tilted head reads the
    same spaces.

    The profile: the MC vertices within half an edge of the plane through ``centre_lps`` normal
    to ``lateral`` (the left-right axis between the condyles). ``apex``: the fossa apex (LPS mm,
    :func:`.joint_bounds.fossa_apex`; Ikeda's S, the fossa's most superior point). Superior: h
    at the profile vertex on the line from the apex to the condyle's centre (the condyle's top
    as seen from the apex; when that line leans more than ``IKEDA_MAX_TILT_DEG`` off the
    scan's vertical, as for an apex found on the rim of a small fossa, the vertex whose normal
    is nearest to the scan's superior axis). Anterior / posterior: the median h at the profile's
    tangent points from the apex (Ikeda's landmarks: the MC vertices within PROFILE_HALF_MM of
    the plane seen from the apex within TANGENT_BAND_DEG of the largest angle in front of /
    behind the condyle), over those whose rays met the temporal bone. None where no such ray
    met it, or without an apex (no ray met it).
    """
    none = {"superior": None, "anterior": None, "posterior": None}
    if apex is None:
        return none
    apex = np.asarray(apex, float)
    m = np.asarray(lateral, float) / np.linalg.norm(lateral)
    verts = surfaces.points(mc_poly)
    normals = surfaces.point_normals(mc_poly)
    tri = surfaces.triangles(mc_poly)
    edge = float(np.mean(np.linalg.norm(verts[tri[:, 0]] - verts[tri[:, 1]], axis=1)))
    near = np.nonzero(np.abs((verts - np.asarray(centre_lps, float)) @ m)
                      <= max(edge, 1e-3))[0]
    if len(near) == 0:
        return none
    # in the profile's plane: "down" from the apex towards the condyle's centre, "back" normal
    # to it; the tangent points are the profile's extreme directions seen from the apex
    down = np.asarray(centre_lps, float) - apex
    down -= (down @ m) * m
    down /= max(np.linalg.norm(down), 1e-9)
    scan_down = np.array([0.0, 0.0, -1.0]) - (-m[2]) * m   # LPS -z, normal to m
    scan_down /= np.linalg.norm(scan_down)
    leaning = down @ scan_down < np.cos(np.radians(IKEDA_MAX_TILT_DEG))
    back = np.cross(m, down)   # LPS +y (posterior) for an upright head: m = +x, down = -z
    rel = verts[near] - apex
    angle = np.arctan2(rel @ back, rel @ down)   # 0 straight at the centre, > 0 behind
    upper = rel @ down < (np.asarray(centre_lps, float) - apex) @ down  # above the centre
    if not upper.any():
        return none
    top = np.nonzero(upper)[0]
    if leaning:  # an apex that far off the scan's vertical: on a small fossa's rim
        superior = near[int(np.argmax(normals[near] @ -scan_down))]
    else:        # the condyle's top as seen from the apex
        superior = near[top[int(np.argmin(np.abs(angle[top])))]]
    spaces = {"superior": float(h[superior]) if hit[superior] else None}
    slab = np.nonzero(np.abs((verts - np.asarray(centre_lps, float)) @ m) <= PROFILE_HALF_MM)[0]
    rel = verts[slab] - apex
    angle = np.arctan2(rel @ back, rel @ down)
    for key, extreme in (("anterior", np.min), ("posterior", np.max)):
        band = slab[np.abs(angle - extreme(angle)) <= np.radians(TANGENT_BAND_DEG)]
        band = band[hit[band]]   # the tangent points whose rays met the temporal bone
        spaces[key] = float(np.median(h[band])) if len(band) else None
    return spaces


def with_thickness(mc_poly, h):
    """Shallow copy of the MC mesh carrying h as point data ``JointSpaceThickness_mm``."""
    out = vtkPolyData()
    out.ShallowCopy(mc_poly)
    arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(h, dtype=np.float64), deep=True)
    arr.SetName(THICKNESS_ARRAY)
    out.GetPointData().AddArray(arr)
    out.GetPointData().SetActiveScalars(THICKNESS_ARRAY)
    return out


def inflated_surface(mc_poly, h):
    """The MC mesh with every vertex moved by h along its normal (LPS mm), thickness attached."""
    verts = surfaces.points(mc_poly) + h[:, None] * surfaces.point_normals(mc_poly)
    out = vtkPolyData()
    out.DeepCopy(mc_poly)
    pts = vtkPoints()
    pts.SetData(numpy_support.numpy_to_vtk(verts, deep=True))
    out.SetPoints(pts)
    return with_thickness(out, h)
