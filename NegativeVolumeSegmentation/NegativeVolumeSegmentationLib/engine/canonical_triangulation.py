"""One triangulation per voxel cell, whichever way the array runs (engine/surfaces.py uses it).

Flying edges triangulates each voxel cell's polygon along diagonals that depend on the order it
walks the array; a mirrored or transposed mask then gets other diagonals, and the smoothing,
normals and ray hits read on them move the numbers (docs/method.md, "One triangulation for a
mask and its mirror image"). Fanning every polygon around its centre removes the choice.
Coordinates are those flying edges produces: index space scaled by the spacing (mm).
"""

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def canonical_cells(pts, tri, spacing):
    """The same surface with each voxel cell's polygon fanned around a vertex at its centre.

    Flying edges cuts a cell's polygon of k > 3 corners into k - 2 triangles along diagonals
    chosen by the polygon's corner order, which a mirror image (or a transposed grid) does not
    mirror: the windowed-sinc smoothing then moves the mirrored mask's vertices differently
    (0.15 mm along the surface on the dental CBCT condyles), and the normals and ray hits read
    on the triangles differ too. Here every polygon (the triangles of one cell that share
    corners) is replaced by the k triangles from its boundary edges, as wound, to one new vertex
    at the mean of its corners. That triangulation depends only on the polygon, so the mesh of
    a mirrored mask is exactly the mirrored mesh. Single triangles stay as they are.

    Args:
        pts: (N, 3) vertices in index space scaled by the spacing (mm), cell corners at integer
            multiples of ``spacing``.
        tri: (M, 3) consistently wound triangles.
        spacing: (3,) voxel spacing (mm), x, y, z.

    Returns:
        (points, triangles): the N old vertices followed by the polygon centres, and the
        triangles (single-triangle cells first, then the fans).
    """
    pts = np.asarray(pts, float)
    tri = np.asarray(tri, np.int64)
    if len(tri) == 0:
        return pts, tri
    cell = np.floor(pts[tri].mean(axis=1) / np.asarray(spacing, float)).astype(np.int64)
    cell -= cell.min(axis=0)
    key = np.ravel_multi_index(cell.T, tuple(cell.max(axis=0) + 1))
    order = np.argsort(key, kind="stable")
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    count = np.bincount(np.cumsum(first) - 1)
    in_cell = np.repeat(count, count)  # triangles in each sorted triangle's cell
    kept, centres, fans = [tri[order[in_cell == 1]]], [], []
    other = []  # cells holding more than one polygon
    for t in np.unique(in_cell[in_cell > 1]):
        rows = order[in_cell == t].reshape(-1, t)  # one cell per row, its t triangles
        u = tri[rows].reshape(len(rows), 3 * t)
        v = tri[rows][:, :, [1, 2, 0]].reshape(len(rows), 3 * t)
        # an edge is inside the polygon when another triangle of the cell runs it backwards
        inner = ((u[:, None, :] == v[:, :, None]) & (v[:, None, :] == u[:, :, None])).any(axis=2)
        corners = np.sort(u, axis=1)
        distinct = 1 + np.count_nonzero(np.diff(corners, axis=1), axis=1)
        # one polygon of k corners: t = k - 2 triangles, k distinct corners, k boundary edges
        disk = (distinct == t + 2) & ((~inner).sum(axis=1) == t + 2)
        other.append(rows[~disk].ravel())
        edge_u = u[disk][~inner[disk]].reshape(-1, t + 2)
        edge_v = v[disk][~inner[disk]].reshape(-1, t + 2)
        centre = len(pts) + sum(len(c) for c in centres) + np.arange(len(edge_u))
        centres.append(pts[edge_u].mean(axis=1))
        fans.append(np.stack([edge_u, edge_v, np.repeat(centre[:, None], t + 2, axis=1)],
                             axis=2).reshape(-1, 3))
    other = np.concatenate(other) if other else np.zeros(0, np.int64)
    if len(other):
        start = len(pts) + sum(len(c) for c in centres)
        more_centres, more_fans, singles = _fan_polygons(pts, tri[other], cell[other], start)
        centres.append(more_centres)
        fans.append(more_fans)
        kept.append(singles)
    if not centres:
        return pts, tri
    return np.vstack([pts] + centres), np.vstack(kept + fans)


def _fan_polygons(pts, tri, cell, start):
    """:func:`canonical_cells` for cells that hold several polygons: the triangles of one cell
    that share a corner form one polygon (connected components). Returns the centres, the fans
    (centres numbered from ``start``) and the triangles that are polygons of their own."""
    n, m = len(pts), len(tri)
    cell = cell - cell.min(axis=0)
    cell_key = np.ravel_multi_index(cell.T, tuple(cell.max(axis=0) + 1))
    owner = np.repeat(np.arange(m), 3)
    key = cell_key[owner] * n + tri.ravel()
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    links = sparse.coo_matrix((np.ones(int(same.sum())),
                               (owner[order][:-1][same], owner[order][1:][same])), shape=(m, m))
    _, polygon = csgraph.connected_components(links, directed=False)
    fanned = np.bincount(polygon)[polygon] > 1
    if not fanned.any():
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), tri
    sub = tri[fanned]
    _, sub_polygon = np.unique(polygon[fanned], return_inverse=True)
    sub_polygon = sub_polygon.ravel()
    u, v = sub.ravel(), sub[:, [1, 2, 0]].ravel()
    edge_polygon = np.repeat(sub_polygon, 3)
    _, edge = np.unique(np.minimum(u, v) * n + np.maximum(u, v), return_inverse=True)
    edge = edge.ravel()
    _, where, uses = np.unique(edge_polygon * (int(edge.max()) + 1) + edge,
                               return_inverse=True, return_counts=True)
    boundary = uses[where.ravel()] == 1
    # each corner starts exactly one boundary edge: the centre is the mean of their starts
    n_polygons = int(sub_polygon.max()) + 1
    corners = np.bincount(edge_polygon[boundary], minlength=n_polygons).astype(float)
    centres = np.stack([np.bincount(edge_polygon[boundary], pts[u[boundary], k], n_polygons)
                        for k in range(3)], axis=1) / np.maximum(corners, 1.0)[:, None]
    fans = np.stack([u[boundary], v[boundary], start + edge_polygon[boundary]], axis=1)
    return centres, fans, tri[~fanned]
